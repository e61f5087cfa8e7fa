"""The widget's panels: layer pickers, parameters, run controls and models, each a few magicgui widgets.

A panel builds its widgets (listed in ``controls``, which the dock widget adds in order and
exposes by name) and wires what happens inside it; the dock widget wires panels to jobs.
No torch here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    PushButton,
    RadioButtons,
    Select,
    SpinBox,
)
from magicgui.widgets.bases import Widget
from napari.layers import Image, Labels

from . import _layers
from .devices import DEVICES
from .params import PRESETS, Params

if TYPE_CHECKING:
    import napari

THIS_SLICE = "This slice"
ALL_SLICES = "All slices"
RUN_TEXT = "Run"
CANCEL_TEXT = "Cancel"


def default_threads() -> int:
    """Torch threads for the worker: all cores but one, so the GUI thread keeps a core."""
    return max(1, (os.cpu_count() or 2) - 1)


class LayerPickers:
    """Image (+ channel layers), scribble layer and the This slice / All slices choice."""

    def __init__(self, viewer: napari.Viewer):
        self._viewer = viewer
        self.image = ComboBox(name="image", label="Image", choices=self.image_choices)
        self.extra_channels = Select(
            name="extra_channels",
            label="+ channels",
            choices=self._channel_choices,
            value=[],
            tooltip="Other single-channel Image layers of the same shape to use as further channels",
        )
        self.scribbles = ComboBox(name="scribbles", label="Scribbles", choices=self._scribble_choices)
        self.new_scribbles = PushButton(name="new_scribbles", text="New scribble layer")
        self.mode = RadioButtons(
            name="mode", label="Slices", choices=[THIS_SLICE, ALL_SLICES], value=THIS_SLICE, orientation="horizontal"
        )
        self.controls: list[Widget] = [self.image, self.extra_channels, self.scribbles, self.new_scribbles, self.mode]
        self.image.changed.connect(self.on_image_changed)

    def image_choices(self, _widget: Any = None) -> list[tuple[str, Image]]:
        """The viewer's Image layers, as (name, layer) choices."""
        return [(layer.name, layer) for layer in self._viewer.layers if isinstance(layer, Image)]

    def _channel_choices(self, _widget: Any = None) -> list[tuple[str, Image]]:
        image = self.image.value
        if image is None or image.rgb:
            return []
        return [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, Image)
            and layer != image
            and not layer.rgb
            and _layers.spatial_shape(layer) == _layers.spatial_shape(image)
        ]

    def _scribble_choices(self, _widget: Any = None) -> list[tuple[str, Labels | None]]:
        labels = [
            (layer.name, layer)
            for layer in self._viewer.layers
            if isinstance(layer, Labels) and not _layers.is_output(layer)
        ]
        return [("none", None), *labels]

    def on_layers_changed(self, event: Any, reset_choices: Callable[[], None]) -> None:
        """Refresh the choices (``reset_choices``); pick a newly added matching scribble layer."""
        image = self.image.value
        reset_choices()
        if self.image.value != image:
            return  # on_image_changed has run
        self.extra_channels.visible = bool(self.extra_channels.choices)
        added = getattr(event, "type", None) == "inserted" and event.value
        if (
            added
            and self.scribbles.value is None
            and image is not None
            and not _layers.is_output(added)
            and _layers.matches_image(added, image)
        ):
            self.scribbles.value = added

    def on_image_changed(self, _value: Any = None) -> None:
        """Offer the new image's channel layers and a matching scribble layer; allow All slices for stacks."""
        self.extra_channels.reset_choices()
        self.extra_channels.value = []
        self.extra_channels.visible = bool(self.extra_channels.choices)
        image = self.image.value
        current = self.scribbles.value
        if image is not None and (current is None or not _layers.matches_image(current, image)):
            candidates = (layer for _, layer in self._scribble_choices() if layer is not None)
            self.scribbles.value = next((c for c in candidates if _layers.matches_image(c, image)), None)
        self.mode.enabled = image is not None and image.ndim > 2
        if not self.mode.enabled:
            self.mode.value = THIS_SLICE

    def selected_images(self) -> tuple[Image, ...]:
        """The image layer and the layers picked as its further channels (checked)."""
        if not len(self._viewer.layers):
            raise ValueError("there are no layers: open an image (File > Open) or a sample (File > Open Sample)")
        image = self.image.value
        layers = (image, *self.extra_channels.value) if image is not None else ()
        _layers.check_channel_layers(layers)
        return layers

    def selected_scribbles(self, image: Image) -> Labels | None:
        """The scribble layer (checked against ``image``), or None."""
        scribbles = self.scribbles.value
        _layers.check_scribbles(scribbles, image)
        return scribbles


# Params fields the widget edits and a preset sets: (widget class, label, options).
_PRESET_FIELDS: dict[str, tuple[type, str, dict[str, Any]]] = {
    "max_iter": (SpinBox, "Max iterations", {"min": 1, "max": 100_000}),
    "min_labels": (SpinBox, "Min labels", {"max": 1000, "tooltip": "Stop at this many labels (0: automatic)"}),
    "channels": (SpinBox, "Channels", {"min": 2, "max": 1000, "tooltip": "Upper bound on the number of labels"}),
    "con_weight": (FloatSpinBox, "Continuity weight", {"min": 0.0, "max": 100.0, "step": 0.1}),
    "refine_iter": (SpinBox, "Refine iterations", {"min": 1, "max": 10_000}),
    "lr": (FloatSpinBox, "Learning rate", {"min": 0.0001, "max": 10.0, "step": 0.01}),
    "scribble_weight": (FloatSpinBox, "Scribble weight", {"max": 100.0, "step": 0.1}),
    "smooth_sigma": (FloatSpinBox, "Smoothing (px)", {"max": 50.0, "step": 0.5}),
    "min_size": (SpinBox, "Min region size (px)", {"min": 0, "max": 1_000_000}),
}
_ADVANCED = ("refine_iter", "lr", "scribble_weight", "smooth_sigma", "min_size")


class ParameterPanel:
    """Preset, the parameters it sets (basic and advanced), seed, threads, device."""

    def __init__(self) -> None:
        self.preset = ComboBox(name="preset", label="Preset", choices=list(PRESETS), value="fast")
        self.fields = {
            name: kind(name=name, label=label, **options) for name, (kind, label, options) in _PRESET_FIELDS.items()
        }
        self.seed = SpinBox(name="seed", label="Seed", min=0, max=2**31 - 1)
        self.show_advanced = CheckBox(name="show_advanced", text="Advanced", value=False)
        self.threads = SpinBox(name="threads", label="CPU threads", min=1, max=256, value=default_threads())
        self.device = ComboBox(name="device", label="Device", choices=list(DEVICES), value="auto")
        self.keep_fragments = CheckBox(
            name="keep_fragments",
            text="All slices: keep thin regions",
            value=False,
            tooltip="Without scribbles, All slices folds regions thinner than about 7 px (boundary bands, "
            "noise speckle) into their neighbours so ids stay consistent; tick this to keep thin "
            "structures such as membranes",
        )
        advanced = [self.fields[name] for name in _ADVANCED]
        self.advanced = Container(
            name="advanced",
            widgets=[*advanced, self.threads, self.device, self.keep_fragments],
            label=" ",
            visible=False,
        )
        basic = [w for name, w in self.fields.items() if name not in _ADVANCED]
        self.controls: list[Widget] = [self.preset, *basic, self.seed, self.show_advanced, self.advanced]
        self.named: list[Widget] = [*self.controls, *self.advanced]
        self.apply_preset("fast")
        self.preset.changed.connect(self.apply_preset)
        self.show_advanced.changed.connect(self._toggle_advanced)

    def apply_preset(self, name: str) -> None:
        """Set every parameter widget to the preset's value."""
        params: Params = PRESETS[name]
        for field, widget in self.fields.items():
            value = getattr(params, field)
            widget.value = (value or 0) if field == "min_labels" else value

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.visible = shown

    def parameters(self) -> dict[str, Any]:
        """Overrides of the preset's :class:`~napari_diffseg.params.Params` set in the widget."""
        values = {field: widget.value for field, widget in self.fields.items()}
        values["min_labels"] = values["min_labels"] or None
        return {**values, "threads": self.threads.value}


class RunControls:
    """Run / Cancel, Refine and the status line."""

    def __init__(self) -> None:
        self.run_button = PushButton(name="run_button", text=RUN_TEXT)
        self.refine_button = PushButton(
            name="refine_button", text="Refine", tooltip="Continue training with the edited scribbles"
        )
        self.status = Label(name="status", value="")
        self.status.native.setWordWrap(True)  # Qt: magicgui's Label cannot wrap
        buttons = Container(widgets=[self.run_button, self.refine_button], layout="horizontal", labels=False)
        self.controls: list[Widget] = [buttons, self.status]
        self.named: list[Widget] = [self.run_button, self.refine_button, self.status]


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


def busy_buttons(controls: RunControls, models: ModelPanel, busy: bool) -> None:
    """Run reads Cancel while a job runs; the other buttons wait for it."""
    controls.run_button.text = CANCEL_TEXT if busy else RUN_TEXT
    for button in (controls.refine_button, models.apply_button, models.save_model_button, models.load_model_button):
        button.enabled = not busy
