"""Save / load a model and apply it to another image."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from magicgui.widgets import ComboBox, Container, PushButton
from magicgui.widgets.bases import Widget


class ModelPanel:
    """Save / load a model and apply it to another image."""

    def __init__(self, image_choices: Callable[..., list]):
        self.save_model_button = PushButton(name="save_model_button", text="Save model…")
        self.load_model_button = PushButton(name="load_model_button", text="Load model…")
        self.apply_to = ComboBox(name="apply_to", label="Apply to", choices=image_choices)
        self.apply_button = PushButton(
            name="apply_button", text="Apply model", tooltip="Label the slice shown of 'Apply to'"
        )
        files = Container(widgets=[self.save_model_button, self.load_model_button], layout="horizontal")
        self.controls: list[Widget] = [files, self.apply_to, self.apply_button]
        self.named: list[Widget] = [self.save_model_button, self.load_model_button, self.apply_to, self.apply_button]

    def ask_save_path(self, parent: Any) -> str:
        """A file dialog for where to save the model ('' when cancelled)."""
        from qtpy.QtWidgets import QFileDialog

        return QFileDialog.getSaveFileName(parent, "Save model", "model.pt", "Model (*.pt)")[0]

    def ask_load_path(self, parent: Any) -> str:
        """A file dialog for the model to load ('' when cancelled)."""
        from qtpy.QtWidgets import QFileDialog

        return QFileDialog.getOpenFileName(parent, "Load model", "", "Model (*.pt);;All files (*)")[0]

    def set_busy(self, busy: bool) -> None:
        """The buttons wait while a job runs."""
        for button in (self.save_model_button, self.load_model_button, self.apply_button):
            button.enabled = not busy
