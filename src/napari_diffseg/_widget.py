"""The napari dock widget: pick layers and parameters, Run / Cancel, Refine, models.

The widget only translates: layers to arrays (:mod:`napari_diffseg._layers`), arrays to work
off the GUI thread (:mod:`napari_diffseg._runs`), and results back into one output Labels
layer per image. Importing this module does not import torch.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
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
from napari.layers import Image, Labels
from napari.utils import progress as progress_bar
from napari.utils.notifications import show_error, show_info, show_warning

from . import _layers
from ._runs import Frame, predict_frames, refine_frames, stack_frames, train_frames, warm_up
from .params import PRESETS

if TYPE_CHECKING:
    import napari
    from napari.qt.threading import GeneratorWorker

    from .segmenter import Segmenter

THIS_SLICE = "This slice"
ALL_SLICES = "All slices"
ALL_SLICES_KIND = "all slices"
_RUN_TEXT = "Run"
_CANCEL_TEXT = "Cancel"
_DEVICES = ("auto", "cpu", "cuda", "mps")
_USER_ERRORS = (ValueError, TypeError, RuntimeError, OSError)
_CLOSE_WAIT_S = 30.0  # on closing, wait this long at most for a run to stop


def _default_threads() -> int:
    """Torch threads for the worker: all cores but one, so the GUI thread keeps a core."""
    return max(1, (os.cpu_count() or 2) - 1)


def _notify_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Show a user error as a napari notification instead of raising into the event loop."""

    @functools.wraps(method)
    def wrapper(self: SegmentationWidget, *args: Any) -> Any:
        try:
            return method(self, *args)
        except _USER_ERRORS as error:
            show_error(str(error))
            return None

    return wrapper


def _digest(array: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


@dataclass
class _Job:
    """What a run captured when it started; results go here whatever the viewer shows later."""

    kind: str
    images: tuple[Image, ...]
    output: Labels
    key: _layers.PlaneKey
    before: np.ndarray
    pbar: progress_bar
    started: float = field(default_factory=time.monotonic)
    scribbles: Labels | None = None
    shown: np.ndarray | None = None
    edited: np.ndarray | None = None
    result: np.ndarray | None = None
    iterations: int = 0
    stop_reason: str | None = None
    worker: GeneratorWorker | None = None
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.shown = self.before.copy()
        self.edited = np.zeros(self.before.shape, dtype=bool)

    @property
    def layers(self) -> tuple:
        return (*self.images, self.output, *(() if self.scribbles is None else (self.scribbles,)))


class SegmentationWidget(Container):
    """Differentiable feature clustering of the image slice shown in the viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose layers the widget reads and writes.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=True)
        # Layers reached through napari's plugin proxy are new proxy objects on every access:
        # compare them with ==, never with `is` or id().
        self._viewer = viewer
        self._job: _Job | None = None
        self._model: Segmenter | None = None
        self._model_source: tuple[tuple[Image, ...], _layers.PlaneKey] | None = None
        self._committed: dict[tuple[Any, tuple], bytes] = {}  # (layer id, plane) -> digest
        self._closed = False  # the Qt side was destroyed: a finishing run must not touch it

        self.image = ComboBox(name="image", label="Image", choices=self._image_choices)
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
            name="mode",
            label="Slices",
            choices=[THIS_SLICE, ALL_SLICES],
            value=THIS_SLICE,
            orientation="horizontal",
        )
        self.preset = ComboBox(name="preset", label="Preset", choices=list(PRESETS), value="fast")
        self.max_iter = SpinBox(name="max_iter", label="Max iterations", min=1, max=100_000)
        self.min_labels = SpinBox(
            name="min_labels", label="Min labels", max=1000, tooltip="Stop at this many labels (0: automatic)"
        )
        self.channels = SpinBox(
            name="channels", label="Channels", min=2, max=1000, tooltip="Upper bound on the number of labels"
        )
        self.con_weight = FloatSpinBox(name="con_weight", label="Continuity weight", min=0.0, max=100.0, step=0.1)
        self.seed = SpinBox(name="seed", label="Seed", min=0, max=2**31 - 1)
        self.show_advanced = CheckBox(name="show_advanced", text="Advanced", value=False)
        self.refine_iter = SpinBox(name="refine_iter", label="Refine iterations", min=1, max=10_000)
        self.lr = FloatSpinBox(name="lr", label="Learning rate", min=0.0001, max=10.0, step=0.01)
        self.scribble_weight = FloatSpinBox(name="scribble_weight", label="Scribble weight", max=100.0, step=0.1)
        self.smooth_sigma = FloatSpinBox(name="smooth_sigma", label="Smoothing (px)", max=50.0, step=0.5)
        self.min_size = SpinBox(name="min_size", label="Min region size (px)", min=0, max=1_000_000)
        self.threads = SpinBox(name="threads", label="CPU threads", min=1, max=256, value=_default_threads())
        self.device = ComboBox(name="device", label="Device", choices=list(_DEVICES), value="auto")
        self.keep_fragments = CheckBox(
            name="keep_fragments",
            text="All slices: keep thin regions",
            value=False,
            tooltip="Without scribbles, All slices folds regions thinner than about 7 px (boundary bands, "
            "noise speckle) into their neighbours so ids stay consistent; tick this to keep thin "
            "structures such as membranes",
        )
        self.advanced = Container(
            name="advanced",
            widgets=[
                self.refine_iter,
                self.lr,
                self.scribble_weight,
                self.smooth_sigma,
                self.min_size,
                self.threads,
                self.device,
                self.keep_fragments,
            ],
            label=" ",
            visible=False,
        )
        self.run_button = PushButton(name="run_button", text=_RUN_TEXT)
        self.refine_button = PushButton(
            name="refine_button", text="Refine", tooltip="Continue training with the edited scribbles"
        )
        self.status = Label(name="status", value="")
        self.status.native.setWordWrap(True)  # Qt: magicgui's Label cannot wrap
        self.save_model_button = PushButton(name="save_model_button", text="Save model…")
        self.load_model_button = PushButton(name="load_model_button", text="Load model…")
        self.apply_to = ComboBox(name="apply_to", label="Apply to", choices=self._image_choices)
        self.apply_button = PushButton(
            name="apply_button", text="Apply model", tooltip="Label the slice shown of 'Apply to'"
        )
        self.extend(
            [
                self.image,
                self.extra_channels,
                self.scribbles,
                self.new_scribbles,
                self.mode,
                self.preset,
                self.max_iter,
                self.min_labels,
                self.channels,
                self.con_weight,
                self.seed,
                self.show_advanced,
                self.advanced,
                Container(widgets=[self.run_button, self.refine_button], layout="horizontal", labels=False),
                self.status,
                Container(widgets=[self.save_model_button, self.load_model_button], layout="horizontal"),
                self.apply_to,
                self.apply_button,
            ]
        )
        self._apply_preset("fast")
        self.preset.changed.connect(self._apply_preset)
        self.show_advanced.changed.connect(self._toggle_advanced)
        self.image.changed.connect(self._on_image_changed)
        self.new_scribbles.changed.connect(self._on_new_scribbles)
        self.run_button.changed.connect(self._on_run_clicked)
        self.refine_button.changed.connect(self._on_refine_clicked)
        self.save_model_button.changed.connect(self._on_save_clicked)
        self.load_model_button.changed.connect(self._on_load_clicked)
        self.apply_button.changed.connect(self._on_apply_clicked)
        self._warm_up = threading.Thread(target=warm_up, name="napari-diffseg warm-up", daemon=True)
        self._warm_up.start()
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        self.native.destroyed.connect(self._disconnect_viewer)
        self._on_image_changed()

    def _disconnect_viewer(self, _object: Any = None) -> None:
        """Stop listening to the viewer once the widget's Qt side is gone; cancel a run."""
        self._closed = True
        self._viewer.layers.events.inserted.disconnect(self._on_layers_changed)
        self._viewer.layers.events.removed.disconnect(self._on_layer_removed)
        if self._job is not None and self._job.worker is not None:
            # Let the worker stop at its next frame and wait for it, so that a run never
            # outlives napari (a worker thread still running while Python shuts down aborts).
            self._job.stop.set()
            self._job.done.wait(_CLOSE_WAIT_S)

    # ------------------------------------------------------------------ pickers
    def _image_choices(self, _widget: Any = None) -> list[tuple[str, Image]]:
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

    def _on_layers_changed(self, event: Any = None) -> None:
        image = self.image.value
        self.reset_choices()
        if self.image.value != image:
            return  # _on_image_changed has run
        self.extra_channels.visible = bool(self.extra_channels.choices)
        added = getattr(event, "type", None) == "inserted" and event.value
        if added and self.scribbles.value is None and image is not None and not _layers.is_output(added):
            if _layers.matches_image(added, image):
                self.scribbles.value = added

    def _on_layer_removed(self, event: Any) -> None:
        job = self._job
        if job is not None and any(layer == event.value for layer in job.layers):
            show_warning(f"napari-diffseg: layer {event.value.name!r} was deleted, so the run was cancelled")
            self._cancel(f"layer {event.value.name!r} was deleted")
        self._on_layers_changed()

    def _on_image_changed(self, _value: Any = None) -> None:
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

    @_notify_errors
    def _on_new_scribbles(self, _value: Any = None) -> None:
        image = self._selected_images()[0]
        layer = _layers.add_scribble_layer(self._viewer, image)
        self.scribbles.value = layer

    # ------------------------------------------------------------------ parameters
    def _apply_preset(self, name: str) -> None:
        params = PRESETS[name]
        self.max_iter.value = params.max_iter
        self.min_labels.value = params.min_labels or 0
        self.channels.value = params.channels
        self.con_weight.value = params.con_weight
        self.refine_iter.value = params.refine_iter
        self.lr.value = params.lr
        self.scribble_weight.value = params.scribble_weight
        self.smooth_sigma.value = params.smooth_sigma
        self.min_size.value = params.min_size

    def _toggle_advanced(self, shown: bool) -> None:
        self.advanced.visible = shown

    def parameters(self) -> dict[str, Any]:
        """Overrides of the preset's :class:`~napari_diffseg.params.Params` set in the widget."""
        return {
            "max_iter": self.max_iter.value,
            "min_labels": self.min_labels.value or None,
            "channels": self.channels.value,
            "con_weight": self.con_weight.value,
            "refine_iter": self.refine_iter.value,
            "lr": self.lr.value,
            "scribble_weight": self.scribble_weight.value,
            "smooth_sigma": self.smooth_sigma.value,
            "min_size": self.min_size.value,
            "threads": self.threads.value,
        }

    # ------------------------------------------------------------------ reading layers
    def _selected_images(self) -> tuple[Image, ...]:
        if not len(self._viewer.layers):
            raise ValueError("there are no layers: open an image (File > Open) or a sample (File > Open Sample)")
        image = self.image.value
        layers = (image, *self.extra_channels.value) if image is not None else ()
        _layers.check_channel_layers(layers)
        return layers

    def _selected_scribbles(self, image: Image) -> Labels | None:
        scribbles = self.scribbles.value
        _layers.check_scribbles(scribbles, image)
        return scribbles

    @property
    def running(self) -> bool:
        """Whether a job is running (only one runs at a time)."""
        return self._job is not None

    # ------------------------------------------------------------------ buttons
    def _on_run_clicked(self, _value: Any = None) -> None:
        if self.running:
            self._cancel("cancelled")
        else:
            self.run()

    @_notify_errors
    def run(self) -> None:
        """Start segmenting the slice shown (or every slice, in "All slices" mode)."""
        if self.running:
            raise RuntimeError("a run is already in progress; wait for it or press Cancel")
        images = self._selected_images()
        scribbles = self._selected_scribbles(images[0])
        from .params import resolve_params

        params = self.parameters()
        resolve_params(self.preset.value, **params)  # report bad values before starting
        if self.mode.value == ALL_SLICES:
            self._run_all_slices(images, scribbles, params)
            return
        key = _layers.plane_key(images[0], self._viewer.dims)
        plane, channel_axis = _layers.image_plane(images, key)
        scribble_plane = None if scribbles is None else _layers.read_plane(scribbles, key)
        job = self._start_job("train", images, key, total=params["max_iter"], scribbles=scribbles)
        self._model, self._model_source = None, (images, key)
        self._launch(
            job,
            train_frames,
            plane,
            scribble_plane,
            channel_axis=channel_axis,
            preset=self.preset.value,
            seed=self.seed.value,
            device=self.device.value,
            params=params,
        )

    def _run_all_slices(self, images: tuple[Image, ...], scribbles: Labels | None, params: dict) -> None:
        key = _layers.plane_key(images[0], self._viewer.dims)
        ndim = len(key)
        if ndim < 3 or any(isinstance(k, slice) for k in key[:-2]):
            raise ValueError(
                "All slices segments the planes of the last two axes: show those axes "
                "(reset the axis order with the transpose button) or use This slice"
            )
        stack, channel_axis = _layers.image_stack(images)
        axes = tuple(range(ndim - 2))
        n_slices = math.prod(_layers.spatial_shape(images[0])[:-2])
        job = self._start_job(ALL_SLICES_KIND, images, (slice(None),) * ndim, total=n_slices, scribbles=scribbles)
        self._model, self._model_source = None, None
        self._launch(
            job,
            stack_frames,
            stack,
            None if scribbles is None else _layers.full_resolution(scribbles),
            stop=job.stop,
            axis=axes if len(axes) > 1 else axes[0],
            channel_axis=channel_axis,
            preset=self.preset.value,
            seed=self.seed.value,
            device=self.device.value,
            merge_fragments=not self.keep_fragments.value,
            **params,
        )

    def _on_refine_clicked(self, _value: Any = None) -> None:
        self.refine()

    @_notify_errors
    def refine(self) -> None:
        """Continue training the current model with the edited scribbles (the correction loop)."""
        if self.running:
            raise RuntimeError("a run is already in progress; wait for it or press Cancel")
        images = self._selected_images()
        if self._model is None or self._model_source is None:  # no Run yet, or a loaded model
            show_warning("Refine continues the model of the last Run: press Run first")
            return
        source_images, key = self._model_source
        if source_images != images or _layers.plane_key(images[0], self._viewer.dims) != key:
            show_warning(
                f"the model was trained on {source_images[0].name!r}, {_layers.describe_plane(key)}: "
                "go back there, or press Run on this image and slice first"
            )
            return
        scribbles = self._selected_scribbles(images[0])
        if scribbles is None:
            show_warning("Refine needs scribbles: pick a scribble layer or add one, paint, then Refine")
            return
        model = self._model
        model.params = model.params.replace(refine_iter=self.refine_iter.value, threads=self.threads.value)
        job = self._start_job("refine", images, key, total=model.params.refine_iter, scribbles=scribbles)
        self._launch(job, refine_frames, model, _layers.read_plane(scribbles, key))

    def _on_apply_clicked(self, _value: Any = None) -> None:
        self.apply_model()

    @_notify_errors
    def apply_model(self) -> None:
        """Label the slice shown of the "Apply to" layer with the current model."""
        if self.running:
            raise RuntimeError("a run is already in progress; wait for it or press Cancel")
        if self._model is None:
            raise ValueError("no model yet: press Run, or load a model with 'Load model…'")
        target = self.apply_to.value
        if target is None:
            raise ValueError("pick the image layer to label in 'Apply to'")
        _layers.check_channel_layers((target,))
        key = _layers.plane_key(target, self._viewer.dims)
        plane, channel_axis = _layers.image_plane((target,), key)
        job = self._start_job("apply", (target,), key, total=1)
        self._launch(job, predict_frames, self._model, plane, channel_axis)

    def _on_save_clicked(self, _value: Any = None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getSaveFileName(self.native, "Save model", "model.pt", "Model (*.pt)")
        if path:
            self.save_model(path)

    def _on_load_clicked(self, _value: Any = None) -> None:
        from qtpy.QtWidgets import QFileDialog

        path, _ = QFileDialog.getOpenFileName(self.native, "Load model", "", "Model (*.pt);;All files (*)")
        if path:
            self.load_model(path)

    @_notify_errors
    def save_model(self, path: str | os.PathLike) -> None:
        """Save the current model (weights and parameters) to ``path``."""
        if self._model is None:
            raise ValueError("no model to save: press Run first")
        if self.running:
            raise RuntimeError("wait for the run to finish before saving the model")
        self._model.save(path)
        show_info(f"model saved to {os.fspath(path)}")

    @_notify_errors
    def load_model(self, path: str | os.PathLike) -> None:
        """Load a model saved with 'Save model…'; apply it with 'Apply model'."""
        if self.running:
            raise RuntimeError("wait for the run to finish before loading a model")
        from .segmenter import Segmenter

        self._model = Segmenter.load(path, device=self.device.value)
        self._model_source = None
        self.status.value = f"model loaded from {os.path.basename(os.fspath(path))}"

    # ------------------------------------------------------------------ jobs
    def _start_job(
        self,
        kind: str,
        images: tuple[Image, ...],
        key: _layers.PlaneKey,
        *,
        total: int,
        scribbles: Labels | None = None,
    ) -> _Job:
        output = _layers.output_layer(self._viewer, images[0])
        before = _layers.read_plane(output, key).copy()
        pbar = progress_bar(total=total, desc=f"napari-diffseg {kind} {images[0].name!r}")
        job = _Job(kind, images, output, key, before, pbar, scribbles=scribbles)
        self._notify_replaced_edits(job)
        self._job = job
        self.run_button.text = _CANCEL_TEXT
        for button in (self.refine_button, self.apply_button, self.save_model_button, self.load_model_button):
            button.enabled = False
        self.status.value = f"{kind}: {_layers.describe_plane(key)} of {images[0].name!r}…"
        return job

    def _launch(self, job: _Job, frames: Callable[..., Iterator[Frame]], *args: Any, **kwargs: Any) -> None:
        from napari.qt.threading import create_worker

        handlers = {
            "yielded": functools.partial(self._on_frame, job),
            "errored": functools.partial(self._on_error, job),  # replaces the default re-raise
            "finished": functools.partial(self._finish, job),
        }
        job.worker = create_worker(_until_stopped, job, frames, *args, _start_thread=False, _connect=handlers, **kwargs)
        job.worker.start()

    def _cancel(self, reason: str) -> None:
        job = self._job
        if job is None or job.worker is None:
            return
        job.stop_reason = reason
        self.status.value = "cancelling…"
        job.stop.set()
        job.worker.quit()

    def _on_frame(self, job: _Job, frame: Frame) -> None:
        if frame.model is not None:
            self._model = frame.model
        if frame.progress is not None:
            p = frame.progress
            job.iterations = p.iteration
            if job.kind == ALL_SLICES_KIND:  # the bar counts slices; training shows in its text
                job.pbar.set_description(f"training: iteration {p.iteration}, {p.n_labels} labels")
            else:
                job.pbar.update(p.iteration - job.pbar.n)
                job.pbar.set_description(f"{job.kind}: {p.n_labels} labels, loss {p.loss:.3f}")
        if frame.final:
            job.result = job.shown.copy() if frame.labels is None else frame.labels
            job.pbar.update(job.pbar.total - job.pbar.n)
        elif frame.labels is not None and job.output in self._viewer.layers:
            where = frame.index + (slice(None),) * (job.before.ndim - len(frame.index))
            shown = self._keep_edits(job, frame.labels, where)
            _layers.show_plane(job.output, _layers.sub_key(job.key, where), shown)
            if frame.index:
                job.pbar.update(1)

    def _keep_edits(self, job: _Job, labels: np.ndarray, where: tuple = ()) -> np.ndarray:
        """Labels with the pixels the user painted in the output during the run left as painted.

        ``where`` indexes the job's region (its plane, or its whole stack); ``labels`` is
        what should be shown there. Records what is shown.
        """
        current = _layers.read_plane(job.output, _layers.sub_key(job.key, where))
        edited = job.edited[where] | (current != job.shown[where])
        job.edited[where] = edited
        kept = np.where(edited, current, labels)
        job.shown = job.shown.astype(np.promote_types(job.shown.dtype, kept.dtype), copy=False)
        job.shown[where] = kept
        return kept

    def _on_error(self, job: _Job, error: Exception) -> None:
        job.stop_reason = f"failed: {error}"
        show_error(f"napari-diffseg: {job.kind} failed: {error}")

    def _finish(self, job: _Job) -> None:
        """Write the result (or the last preview, if cancelled) as one undo step; reset the buttons."""
        job.pbar.close()
        self._job = None
        message = self._write_result(job)
        if self._closed:
            return
        self.run_button.text = _RUN_TEXT
        for button in (self.refine_button, self.apply_button, self.save_model_button, self.load_model_button):
            button.enabled = True
        self.status.value = message

    def _write_result(self, job: _Job) -> str:
        if job.output not in self._viewer.layers:
            return f"{job.kind} stopped: the output layer was deleted"
        labels = job.result if job.result is not None else job.shown
        final = self._keep_edits(job, labels)
        changed = _layers.commit_plane(job.output, job.key, final, job.before)
        for plane_id, plane in _planes(job.key, final):
            self._committed[(job.output.unique_id, plane_id)] = _digest(plane)
        if job.edited.any():
            show_info(f"kept {int(job.edited.sum())} pixels you painted in {job.output.name!r} during the run")
        seconds = time.monotonic() - job.started
        where = f"{job.output.name!r}, {_layers.describe_plane(job.key)}"
        if job.result is None:
            state = "cancelled" if job.stop_reason == "cancelled" else f"stopped ({job.stop_reason})"
            return f"{job.kind} {state}: kept the last preview in {where}" if changed else f"{job.kind} {state}"
        n_labels = len(np.unique(job.result))
        iterations = f", {job.iterations} iterations" if job.iterations else ""
        return f"{n_labels} labels{iterations}, {seconds:.1f} s → {where}"

    def _notify_replaced_edits(self, job: _Job) -> None:
        """Say so when a run is about to replace labels that no earlier run of this widget wrote."""
        replaced = [
            plane_id
            for plane_id, plane in _planes(job.key, job.before)
            if plane.any() and self._committed.get((job.output.unique_id, plane_id)) != _digest(plane)
        ]
        if replaced:
            where = _layers.describe_plane(job.key) if len(replaced) == 1 else f"{len(replaced)} slices"
            show_info(
                f"this run replaces edited labels of {where} in {job.output.name!r}; "
                "select that layer and press Ctrl+Z (undo) afterwards to bring them back"
            )


def _until_stopped(job: _Job, frames: Callable[..., Iterator[Frame]], *args: Any, **kwargs: Any) -> Iterator[Frame]:
    """The frames of a job until ``job.stop`` is set; sets ``job.done`` however it ends."""
    try:
        for frame in frames(*args, **kwargs):
            yield frame
            if job.stop.is_set():
                return
    finally:
        job.done.set()


def _planes(key: _layers.PlaneKey, region: np.ndarray) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
    """The 2D planes of a region selected by ``key``, each with its position (-1 on plane axes)."""
    for index in np.ndindex(*region.shape[:-2]):
        full = _layers.sub_key(key, index)
        yield tuple(k if isinstance(k, int) else -1 for k in full), region[index]
