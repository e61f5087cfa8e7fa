"""The Objects section: classes of a segmentation layer -> a measured Labels layer of objects.

*Make objects* copies the chosen segmentation layer's slice shown (or, in "All slices" mode,
its whole stack) and the image, splits and measures them off the GUI thread with
:func:`~napari_diffseg.objects.split_instances` / :func:`~napari_diffseg.objects.split_slices`
(a stack's slices in threads, on all CPU cores but one) and
:func:`~napari_diffseg.objects.measure_objects`, then writes a Labels layer
``"<image> objects"`` whose ``features`` hold the table (napari shows them on hover).
The segmentation layer and the image are only read. No torch here.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, LineEdit, PushButton
from magicgui.widgets.bases import Widget
from napari.layers import Image, Labels

from .. import _layers, _messages

if TYPE_CHECKING:
    import napari
    import pandas as pd
    from napari.qt.threading import GeneratorWorker

OBJECTS_SUFFIX = " objects"
_MARKER = "napari_diffseg_objects"
# The library's parameter names in its messages -> the controls of this panel.
_CONTROLS = (
    ("pass classes=[...]", "fill in 'Classes'"),
    ("classes=", "'Classes' "),
    ("min_size=", "'Min size' "),
    ("radius=", "'Radius' "),
)


def objects_frames(
    labels: np.ndarray,
    image: np.ndarray | None,
    *,
    classes: list[int] | None,
    split_touching: bool,
    min_size: float | None,
    radius: float | None,
    spacing: tuple[float, ...] | None,
    unit: str | None,
) -> Iterator[tuple[int, int]]:
    """Split and measure ``labels`` (2D, or an (N, H, W) stack split slice by slice).

    Yields ``(slices done, slices)`` after each slice of a stack; returns ``(objects, table)``.
    """
    from ..objects import measure_objects, object_classes, split_instances, split_slices

    options = {"image": image, "split_touching": split_touching, "min_size": min_size, "radius": radius}
    if labels.ndim == 2:
        objects = split_instances(labels, classes, spacing=spacing, **options)
    else:
        chosen = object_classes(labels) if classes is None else classes
        objects = np.zeros(labels.shape, np.uint32)
        workers = max(1, (os.cpu_count() or 1) - 1)  # all cores but one: the GUI thread keeps one
        for item in split_slices(labels, chosen, spacing=spacing, workers=workers, **options):
            objects[item.index] = item.instances
            yield item.index + 1, labels.shape[0]
    stack_spacing = None if spacing is None or labels.ndim == 2 else (1.0, *spacing)
    table = measure_objects(
        objects, image, labels=labels, spacing=spacing if labels.ndim == 2 else stack_spacing, unit=unit
    )
    return objects, table


def _until_done(done: threading.Event, *args: Any, **kwargs: Any) -> Iterator[tuple[int, int]]:
    """:func:`objects_frames`, setting ``done`` however it ends."""
    try:
        return (yield from objects_frames(*args, **kwargs))
    finally:
        done.set()


class ObjectsPanel:
    """Segmentation layer, classes, *Split touching*, minimum size, radius, *Make objects*, *Save table…*.

    Parameters
    ----------
    viewer : napari.Viewer
        Where the layers are.
    image : callable
        Returns the Image layer picked in the widget (or None).
    all_slices : callable
        Returns whether the widget is in "All slices" mode.
    check_idle : callable
        Raises while the widget runs something else.
    on_status : callable
        Receives status messages.
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        image: Callable[[], Image | None],
        all_slices: Callable[[], bool],
        check_idle: Callable[[], None],
        on_status: Callable[[str], None],
    ):
        self._viewer, self._image, self._all_slices = viewer, image, all_slices
        self._check_idle, self._on_status = check_idle, on_status
        self.worker: GeneratorWorker | None = None
        self.table: pd.DataFrame | None = None
        self.objects_layer: Labels | None = None
        self._layer_key: tuple[Labels, tuple] | None = None
        self._done = threading.Event()
        self._done.set()
        self.closed = False  # the widget is gone: a finishing run must not touch the viewer
        self.segmentation = ComboBox(
            name="objects_source",
            label="Objects of",
            choices=self._segmentation_choices,
            tooltip="The Labels layer whose classes become objects (it is only read)",
        )
        self.classes = LineEdit(
            name="object_classes",
            label="Classes",
            tooltip="Comma-separated class ids to turn into objects, e.g. 1,3; empty: every positive id when "
            "0 is present, otherwise the smaller of two classes",
        )
        self.split_touching = CheckBox(name="split_touching", text="Split touching", value=True)
        self.min_size = LineEdit(
            name="object_min_size",
            label="Min size",
            tooltip="Smallest object area (in the layer's units squared when it has a scale); "
            "empty: a tenth of a typical object",
        )
        self.radius = LineEdit(
            name="object_radius",
            label="Radius",
            tooltip="Typical object radius (in the layer's units when it has a scale): seeds are at least "
            "0.45 radius apart, so a larger radius splits less (e.g. elongated nuclei cut across); "
            "empty: measured on the class",
        )
        self.make_button = PushButton(name="make_objects_button", text="Make objects")
        self.save_button = PushButton(name="save_table_button", text="Save table…", enabled=False)
        buttons = Container(widgets=[self.make_button, self.save_button], layout="horizontal", labels=False)
        self.controls: list[Widget] = [
            self.segmentation,
            self.classes,
            self.split_touching,
            self.min_size,
            self.radius,
            buttons,
        ]
        self.named: list[Widget] = [*self.controls[:-1], self.make_button, self.save_button]
        self.segmentation.changed.connect(self.fill_default_classes)
        self.fill_default_classes()  # a segmentation already in the viewer is chosen without a change

    @property
    def running(self) -> bool:
        """Whether objects are being made."""
        return self.worker is not None

    def _segmentation_choices(self, _widget: Any = None) -> list[tuple[str, Labels]]:
        layers = [layer for layer in self._viewer.layers if isinstance(layer, Labels) and _MARKER not in layer.metadata]
        layers.sort(key=lambda layer: not _layers.is_output(layer))  # the plugin's outputs first
        return [(layer.name, layer) for layer in layers]

    def on_layer_added(self, layer: Any) -> None:
        """Offer a newly added segmentation layer of the plugin, unless one is chosen already (choices are fresh)."""
        current = self.segmentation.value
        if (
            isinstance(layer, Labels)
            and _layers.is_output(layer)
            and _MARKER not in layer.metadata
            and not (current is not None and _layers.is_output(current))
        ):
            self.segmentation.value = layer

    def fill_default_classes(self, _value: Any = None) -> None:
        """Put the default classes of the slice shown (:func:`~napari_diffseg.objects.object_classes`) in *Classes*."""
        from ..objects import object_classes

        layer = self.segmentation.value
        try:
            plane = _layers.read_plane(layer, _layers.plane_key(layer, self._viewer.dims)) if layer else None
            self.classes.value = "" if plane is None else ",".join(map(str, object_classes(plane)))
        except ValueError:
            self.classes.value = ""

    def make_objects(self) -> None:
        """Start making the objects of the segmentation layer (slice shown, or all slices)."""
        from napari.qt.threading import create_worker

        self._check_idle()
        if self.running:
            raise RuntimeError("objects are being made; wait for them to finish")
        layer = self.segmentation.value
        if layer is None:
            raise ValueError("pick the segmentation in 'Objects of' (press Run first to make one)")
        key = _layers.plane_key(layer, self._viewer.dims)
        if self._all_slices():
            if layer.ndim != 3 or any(isinstance(k, slice) for k in key[:-2]):
                raise ValueError(
                    "All slices makes objects of a 3D (Z or T, Y, X) segmentation shown as Y, X planes: "
                    "choose This slice for other layers"
                )
            key = (slice(None),) * 3
        labels = np.array(_layers.read_plane(layer, key))  # a copy: the layer is never modified
        image = self._image_for(layer, key)
        scale = tuple(float(s) for s in layer.scale[-2:])
        unit = _unit(layer)
        spacing = scale if unit is not None or scale != (1.0, 1.0) else None
        self._layer_key = (layer, key)
        self._done.clear()
        self.worker = create_worker(
            _until_done,
            self._done,
            labels,
            image,
            classes=_int_list(self.classes.value, "Classes"),
            split_touching=self.split_touching.value,
            min_size=_number(self.min_size.value, "Min size"),
            radius=_number(self.radius.value, "Radius", positive=True),
            spacing=spacing,
            unit=unit if spacing is not None else None,
            _start_thread=False,
            _connect={"yielded": self._on_slice, "returned": self._on_done, "errored": self._on_error},
        )
        self.worker.finished.connect(self._on_finished)
        self.make_button.enabled = False
        self._on_status(f"Making objects of {_where(layer.name, key)}…")
        self.worker.start()

    def set_busy(self, busy: bool) -> None:
        """Make objects waits while a segmentation job runs; after it, an empty *Classes* shows the new defaults.

        A segmentation layer is offered as soon as a run adds it, still empty, so its default
        classes can only be read once the run is over; classes typed in are kept.
        """
        self.make_button.enabled = not busy and not self.running
        if not busy and not self.classes.value.strip():
            self.fill_default_classes()

    def stop_and_wait(self, timeout: float) -> None:
        """On closing: let a run finish (at most ``timeout`` seconds) without writing into the viewer."""
        self.closed = True
        self._done.wait(timeout)

    def save_table(self, path: str | os.PathLike) -> None:
        """Write the table of the last *Make objects* to ``path`` as CSV."""
        if self.table is None:
            raise ValueError("no objects yet: press Make objects first")
        from ..atomic import atomic_path

        with atomic_path(path) as partial:
            self.table.to_csv(partial, index=False)
        self._on_status(f"table of {len(self.table)} objects saved to {os.path.basename(os.fspath(path))}")

    def ask_table_path(self, parent: Any) -> str:
        """A CSV path from a file dialog ('' when cancelled)."""
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(parent, "Save object table", "objects.csv", "CSV (*.csv)")
        return path

    def _image_for(self, layer: Labels, key: tuple) -> np.ndarray | None:
        image = self._image()
        if image is None or _layers.spatial_shape(image) != _layers.spatial_shape(layer):
            return None
        return np.array(_layers.read_plane(image, key), dtype=np.float32)

    def _on_slice(self, done: tuple[int, int]) -> None:
        self._on_status(f"Making objects: slice {done[0]} of {done[1]}…")

    def _on_done(self, result: tuple[np.ndarray, pd.DataFrame]) -> None:
        if self.closed:
            return
        objects, table = result
        layer, key = self._layer_key
        image = self._image()
        name = (image.name if image is not None else layer.name) + OBJECTS_SUFFIX
        data = np.zeros(_layers.spatial_shape(layer), np.uint32)
        data[key] = objects
        existing = [one for one in self._viewer.layers if one.name == name and _MARKER in one.metadata]
        if existing and existing[0].data.shape == data.shape:
            target = existing[0]
            target.data = data
        else:
            if existing:
                self._viewer.layers.remove(existing[0])
            target = self._viewer.add_labels(data, name=name, metadata={_MARKER: layer.name}, **_layers.geometry(layer))
        target.features = table.reset_index(drop=True)
        self.objects_layer, self.table = target, table
        self.save_button.enabled = True
        self._on_status(f"{_messages.count(len(table), 'object')} in {_where(layer.name, key)} → {name!r}")

    def _on_error(self, error: Exception) -> None:
        if self.closed:
            return
        from napari.utils.notifications import show_error

        message = str(error)
        for parameter, control in _CONTROLS:
            message = message.replace(parameter, control)
        show_error(f"napari-diffseg: objects failed: {message}")
        self._on_status(f"objects failed: {message}")

    def _on_finished(self) -> None:
        self.worker = None
        if not self.closed:
            self.make_button.enabled = True


def _where(name: str, key: tuple) -> str:
    """``"'cells'"``, ``"slice 3 of 'stack'"`` or ``"every slice of 'stack'"``."""
    return (
        f"every slice of {name!r}"
        if len(key) > 2 and all(isinstance(k, slice) for k in key)
        else _messages.place(name, key)
    )


def _unit(layer: Labels) -> str | None:
    """The layer's physical unit (``"µm"``), or None for pixels."""
    units = getattr(layer, "units", None)
    if not units:
        return None
    text = f"{units[-1]:~}"
    return None if text in ("px", "pixel") else text


def _int_list(text: str, label: str) -> list[int] | None:
    if not text.strip():
        return None
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        raise ValueError(f"'{label}' must be comma-separated class ids such as 1,3 (or empty); got {text!r}") from None


def _number(text: str, label: str, *, positive: bool = False) -> float | None:
    """The number typed in a field (None when empty); ``positive``: above 0, else at least 0."""
    if not text.strip():
        return None
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not (value > 0 if positive else value >= 0):
        raise ValueError(
            f"'{label}' must be a number {'>' if positive else '>='} 0 (or empty for automatic); got {text!r}"
        )
    return value
