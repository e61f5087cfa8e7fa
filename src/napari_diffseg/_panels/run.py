"""Run / Cancel and Refine."""

from __future__ import annotations

from magicgui.widgets import Container, PushButton
from magicgui.widgets.bases import Widget

RUN_TEXT = "Run"
CANCEL_TEXT = "Cancel"


class RunControls:
    """Run (which reads Cancel while a job runs) and Refine, side by side."""

    def __init__(self) -> None:
        self.run_button = PushButton(name="run_button", text=RUN_TEXT)
        self.refine_button = PushButton(
            name="refine_button", text="Refine", tooltip="Continue training with the edited scribbles"
        )
        buttons = Container(widgets=[self.run_button, self.refine_button], layout="horizontal", labels=False)
        self.controls: list[Widget] = [buttons]
        self.named: list[Widget] = [self.run_button, self.refine_button]

    def set_busy(self, busy: bool) -> None:
        """Run reads Cancel while a job runs; Refine waits for it."""
        self.run_button.text = CANCEL_TEXT if busy else RUN_TEXT
        self.refine_button.enabled = not busy
