"""The parameter panel: preset, the parameters it sets (basic and advanced), seed, threads, device."""

from __future__ import annotations

import typing
from typing import Any

from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, SpinBox
from magicgui.widgets.bases import Widget

from ..devices import DEVICES
from ..params import PRESETS, Correction, Params, Readout

READOUT_TOOLTIP = (
    "How the painted classes label every pixel (Run, Refine and Live use it). "
    "auto: context for colour (RGB) images, linear for other images; "
    "linear: per-pixel classes from the network's features; "
    "context: the same features with their surroundings, so a stroke's class follows what surrounds it "
    "(better on photos and large regions); "
    "spatial: strokes spread along the image's edges by a graph cut, so a correction fixes the region it is in; "
    "argmax: the network's own clusters. The paper preset offers argmax only"
)

CORRECTION_TOOLTIP = (
    "What Refine and Live do with new strokes. refit: refit the Scribble readout on the strokes and keep the "
    "network (a fraction of a second; with two or more painted classes, otherwise it trains); "
    "train: train the network Refine iterations more"
)

AUTO_THREADS = "auto"


# Params fields the widget edits and a preset sets: (widget class, label, options).
_PRESET_FIELDS: dict[str, tuple[type, str, dict[str, Any]]] = {
    "max_iter": (SpinBox, "Max iterations", {"min": 1, "max": 100_000}),
    "min_labels": (SpinBox, "Min labels", {"max": 1000, "tooltip": "Stop at this many labels (0: automatic)"}),
    "readout": (ComboBox, "Scribble readout", {"choices": typing.get_args(Readout), "tooltip": READOUT_TOOLTIP}),
    "channels": (SpinBox, "Channels", {"min": 2, "max": 1000, "tooltip": "Upper bound on the number of labels"}),
    "con_weight": (FloatSpinBox, "Continuity weight", {"min": 0.0, "max": 100.0, "step": 0.1}),
    "refine_iter": (SpinBox, "Refine iterations", {"min": 1, "max": 10_000}),
    "correction": (ComboBox, "Corrections", {"choices": typing.get_args(Correction), "tooltip": CORRECTION_TOOLTIP}),
    "lr": (FloatSpinBox, "Learning rate", {"min": 0.0001, "max": 10.0, "step": 0.01}),
    "scribble_weight": (FloatSpinBox, "Scribble weight", {"max": 100.0, "step": 0.1}),
    "smooth_sigma": (FloatSpinBox, "Smoothing (px)", {"max": 50.0, "step": 0.5}),
    "min_size": (SpinBox, "Min region size (px)", {"min": 0, "max": 1_000_000}),
}
_ADVANCED = ("refine_iter", "correction", "lr", "scribble_weight", "smooth_sigma", "min_size")


class ParameterPanel:
    """Preset, the parameters it sets (basic and advanced), seed, threads, device."""

    def __init__(self) -> None:
        self.preset = ComboBox(name="preset", label="Preset", choices=list(PRESETS), value="fast")
        self.fields = {
            name: kind(name=name, label=label, **options) for name, (kind, label, options) in _PRESET_FIELDS.items()
        }
        self.seed = SpinBox(name="seed", label="Seed", min=0, max=2**31 - 1)
        self.show_advanced = CheckBox(name="show_advanced", text="Advanced", value=False)
        self.threads = SpinBox(
            name="threads",
            label="CPU threads",
            min=0,
            max=256,
            value=0,
            tooltip="Torch CPU threads of a run; auto: torch's default, as in the Python API and the command line. "
            "Labels depend on the thread count: the same count gives the same labels. Lower it if the window stutters",
        )
        self.threads.native.setSpecialValueText(AUTO_THREADS)  # Qt: 0 reads "auto"
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
        self.fields["readout"].choices = readouts(params)
        for field, widget in self.fields.items():
            value = getattr(params, field)
            widget.value = (value or 0) if field == "min_labels" else value

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.visible = shown

    def parameters(self) -> dict[str, Any]:
        """Overrides of the preset's :class:`~napari_diffseg.params.Params` set in the widget: the
        fields whose value differs from the preset's (so that the preset's own rules, such as
        ``unsupervised_max_iter``, apply as in the Python API and the command line)."""
        preset: Params = PRESETS[self.preset.value]
        values = {field: widget.value for field, widget in self.fields.items()}
        values["min_labels"] = values["min_labels"] or None
        changed = {field: value for field, value in values.items() if value != getattr(preset, field)}
        return {**changed, "threads": self.threads.value or None}


def readouts(params: Params) -> list[str]:
    """The scribble readouts that ``params`` allow (the others need parameters they do not have)."""
    allowed = []
    for readout in typing.get_args(Readout):
        try:
            params.replace(readout=readout)
        except ValueError:
            continue
        allowed.append(readout)
    return allowed
