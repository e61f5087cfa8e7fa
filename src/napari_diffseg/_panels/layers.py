"""The layer pickers: image (+ channel layers), scribble layer, and This slice / All slices."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from magicgui.widgets import ComboBox, PushButton, RadioButtons, Select
from magicgui.widgets.bases import Widget
from napari.layers import Image, Labels

from .. import _layers

if TYPE_CHECKING:
    import napari

THIS_SLICE = "This slice"
ALL_SLICES = "All slices"


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
