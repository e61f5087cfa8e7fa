"""The napari dock widget: pick layers and parameters, Run / Cancel, Refine, progress and status, models.

The widget only composes and translates: its panels (:mod:`._panels`) hold the controls,
layers become arrays through :mod:`._layers`, arrays become work off the GUI thread through
:mod:`._runs`, and :mod:`._jobs` runs that work and writes results back as one undo step.
Importing this module does not import torch.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
from magicgui.widgets import Container
from napari.layers import Image
from napari.utils.notifications import show_error, show_info, show_warning

from . import _layers, _messages
from ._jobs import ALL_SLICES_KIND, JobRunner, JobView
from ._live_panel import LivePanel
from ._panels import (
    ALL_SLICES,
    LayerPickers,
    ModelPanel,
    ObjectsPanel,
    ParameterPanel,
    RunControls,
    StatusPanel,
    ask_then,
    readouts,
    section,
)
from ._runs import predict_frames, refine_frames, stack_frames, train_frames, warm_up

if TYPE_CHECKING:
    import napari

    from .segmenter import Segmenter

_USER_ERRORS = (ValueError, TypeError, RuntimeError, OSError)
_CLOSE_WAIT_S = 30.0  # on closing, wait this long at most for a run to stop


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


class SegmentationWidget(Container):
    """Differentiable feature clustering of the image slice shown in the viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        The viewer whose layers the widget reads and writes.
    """

    def __init__(self, viewer: napari.viewer.Viewer):
        super().__init__(labels=False)
        # Layers reached through napari's plugin proxy are new proxy objects on every access:
        # compare them with ==, never with `is` or id().
        self._viewer = viewer
        self._model: Segmenter | None = None
        self._model_source: tuple[tuple[Image, ...], _layers.PlaneKey] | None = None
        self.pickers = LayerPickers(viewer)
        self.parameter_panel = ParameterPanel()
        self.controls = RunControls()
        self.status_panel = StatusPanel()
        self.models = ModelPanel(self.pickers.image_choices)
        self._jobs = JobRunner(viewer, self.status_panel, on_model=self._set_model, on_idle=self._on_idle)
        self.objects_panel = ObjectsPanel(
            viewer,
            lambda: self.pickers.image.value,
            lambda: self.mode.value == ALL_SLICES,
            self._jobs.check_idle,
            self.status_panel.say,
        )
        # Sections: fields with captions aligned in one column; the status spans the dock's width.
        self.extend(
            [
                section(self.pickers, self.parameter_panel, labels=True),
                section(self.controls, self.status_panel, labels=False),
                section(self.models, labels=True),
                section(self.objects_panel, labels=True),
            ]
        )
        panels = (self.pickers, self.parameter_panel, self.controls, self.status_panel, self.models, self.objects_panel)
        for panel in panels:
            for control in getattr(panel, "named", panel.controls):
                setattr(self, control.name, control)
        self.live_panel = LivePanel(self.scribbles, self.refine, lambda: self.running)
        self.extend(self.live_panel.controls)
        self.new_scribbles.changed.connect(self._on_new_scribbles)
        self.run_button.changed.connect(self._on_run_clicked)
        self.refine_button.changed.connect(self.refine)
        self.save_model_button.changed.connect(ask_then(self.models.ask_save_path, self.native, self.save_model))
        self.load_model_button.changed.connect(ask_then(self.models.ask_load_path, self.native, self.load_model))
        self.apply_button.changed.connect(self.apply_model)
        self.make_objects_button.changed.connect(self.make_objects)
        self.save_table_button.changed.connect(
            ask_then(self.objects_panel.ask_table_path, self.native, self.save_table)
        )
        self._warm_up = threading.Thread(target=warm_up, name="napari-diffseg warm-up", daemon=True)
        self._warm_up.start()
        viewer.layers.events.inserted.connect(self._on_layers_changed)
        viewer.layers.events.removed.connect(self._on_layer_removed)
        self.native.destroyed.connect(self._disconnect_viewer)
        self.pickers.on_image_changed()

    # ------------------------------------------------------------------ public state
    @property
    def running(self) -> bool:
        """Whether a job is running (only one runs at a time)."""
        return self._jobs.running

    @property
    def job(self) -> JobView | None:
        """The running job (read-only), or None."""
        return self._jobs.job

    @property
    def model(self) -> Segmenter | None:
        """The model of the last Run (or the loaded one), or None."""
        return self._model

    @property
    def closed(self) -> bool:
        """Whether the widget's Qt side is gone."""
        return self._jobs.closed

    @property
    def warmed_up(self) -> bool:
        """Whether the imports the first run needs are done (they start when the widget opens)."""
        return not self._warm_up.is_alive()

    def parameters(self) -> dict[str, Any]:
        """Overrides of the preset's :class:`~napari_diffseg.params.Params` set in the widget."""
        return self.parameter_panel.parameters()

    def _run_threads(self) -> int:
        """The torch CPU threads of a run: the widget's, or for "auto" torch's setting on this (the GUI) thread.

        That is what the Python API uses when ``threads`` is not given, here in napari's
        console: a worker thread may hold an older setting, and labels depend on the count.
        """
        threads = self.parameters()["threads"]
        if threads is not None:
            return threads
        import torch  # imported by the warm-up already (this waits for it at worst)

        return torch.get_num_threads()

    # ------------------------------------------------------------------ viewer events
    def _disconnect_viewer(self, _object: Any = None) -> None:
        """Stop listening to the viewer once the widget's Qt side is gone; cancel a run."""
        self._jobs.closed = True
        self.live_panel.close()
        self._viewer.layers.events.inserted.disconnect(self._on_layers_changed)
        self._viewer.layers.events.removed.disconnect(self._on_layer_removed)
        # A run never outlives napari (a worker thread still running while Python shuts down aborts).
        self._jobs.stop_and_wait(_CLOSE_WAIT_S)
        self.objects_panel.stop_and_wait(_CLOSE_WAIT_S)

    def _on_layers_changed(self, event: Any = None) -> None:
        self.pickers.on_layers_changed(event, self.reset_choices)
        if getattr(event, "type", None) == "inserted":
            self.objects_panel.on_layer_added(event.value)

    def _on_layer_removed(self, event: Any) -> None:
        if self._jobs.uses(event.value):
            show_warning(f"napari-diffseg: layer {event.value.name!r} was deleted, so the run was cancelled")
            self._cancel(f"layer {event.value.name!r} was deleted")
        self._on_layers_changed()

    @_notify_errors
    def _on_new_scribbles(self, _value: Any = None) -> None:
        image = self.pickers.selected_images()[0]
        self.scribbles.value = _layers.add_scribble_layer(self._viewer, image)

    # ------------------------------------------------------------------ actions
    def _on_run_clicked(self, _value: Any = None) -> None:
        if self.running:
            self._cancel("cancelled")
        else:
            self.run()

    @_notify_errors
    def run(self) -> None:
        """Start segmenting the slice shown (or every slice, in "All slices" mode)."""
        self._jobs.check_idle()
        images = self.pickers.selected_images()
        scribbles = self.pickers.selected_scribbles(images[0])
        from .params import resolve_params

        params = {**self.parameters(), "threads": self._run_threads()}
        resolved = resolve_params(self.preset.value, **params)  # report bad values before starting
        common = {"preset": self.preset.value, "seed": self.seed.value, "device": self.device.value}
        key = _layers.plane_key(images[0], self._viewer.dims)
        if self.mode.value == ALL_SLICES:
            self._run_all_slices(images, scribbles, key, {**common, **params})
            return
        plane, channel_axis = _layers.image_plane(images, key)
        scribble_plane = None if scribbles is None else _layers.read_plane(scribbles, key)
        self._start(
            "train",
            images,
            key,
            train_frames,
            plane,
            scribble_plane,
            total=resolved.iteration_bound(painted=scribble_plane is not None and bool(np.any(scribble_plane))),
            scribbles=scribbles,
            channel_axis=channel_axis,
            params=params,
            **common,
        )
        self._model, self._model_source = None, (images, key)

    def _run_all_slices(self, images: tuple[Image, ...], scribbles: Any, key: tuple, options: dict) -> None:
        ndim = len(key)
        if ndim < 3 or any(isinstance(k, slice) for k in key[:-2]):
            raise ValueError(
                "All slices segments the planes of the last two axes: show those axes "
                "(reset the axis order with the transpose button) or use This slice"
            )
        stack, channel_axis = _layers.image_stack(images)
        axes = tuple(range(ndim - 2))
        n_slices = math.prod(_layers.spatial_shape(images[0])[:-2])
        marks = None if scribbles is None else _layers.full_resolution(scribbles)
        self._start(
            ALL_SLICES_KIND,
            images,
            (slice(None),) * ndim,
            stack_frames,
            stack,
            marks,
            total=n_slices,
            scribbles=scribbles,
            axis=axes if len(axes) > 1 else axes[0],
            channel_axis=channel_axis,
            merge_fragments=not self.keep_fragments.value,
            **options,
        )
        self._model, self._model_source = None, None

    @_notify_errors
    def refine(self, _value: Any = None) -> None:
        """Continue training the current model with the edited scribbles (the correction loop).

        The refinement uses the Refine iterations, Corrections, Scribble readout and CPU threads shown.
        """
        self._jobs.check_idle()
        images = self.pickers.selected_images()
        if self._model is None or self._model_source is None:  # no Run yet, or a loaded model
            show_warning("Refine continues the model of the last Run: press Run first")
            return
        source_images, key = self._model_source
        if source_images != images or _layers.plane_key(images[0], self._viewer.dims) != key:
            show_warning(
                f"the model was trained on {_messages.place(source_images[0].name, key)}: "
                "go back there, or press Run on this image and slice first"
            )
            return
        scribbles = self.pickers.selected_scribbles(images[0])
        if scribbles is None:
            show_warning("Refine needs scribbles: pick a scribble layer or add one, paint, then Refine")
            return
        model = self._model
        if self.readout.value not in readouts(model.params):
            show_warning(f"the model of the last Run cannot use Scribble readout {self.readout.value!r}: press Run")
            return
        model.set_params(
            refine_iter=self.refine_iter.value,
            correction=self.correction.value,
            readout=self.readout.value,
            threads=self._run_threads(),
        )
        plane = _layers.read_plane(scribbles, key).copy()  # strokes painted during the run go to the next
        self._start(
            "refine", images, key, refine_frames, model, plane, total=model.params.refine_iter, scribbles=scribbles
        )

    @_notify_errors
    def apply_model(self, _value: Any = None) -> None:
        """Label the slice shown of the "Apply to" layer with the current model."""
        self._jobs.check_idle()
        if self._model is None:
            raise ValueError("no model yet: press Run, or load a model with 'Load model…'")
        target = self.apply_to.value
        if target is None:
            raise ValueError("pick the image layer to label in 'Apply to'")
        _layers.check_channel_layers((target,))
        key = _layers.plane_key(target, self._viewer.dims)
        plane, channel_axis = _layers.image_plane((target,), key)
        self._start("apply", (target,), key, predict_frames, self._model, plane, channel_axis, total=1)

    @_notify_errors
    def save_model(self, path: str | os.PathLike) -> None:
        """Save the current model (weights and parameters) to ``path``."""
        if self._model is None:
            raise ValueError("no model to save: press Run first")
        self._jobs.check_idle("saving the model")
        self._model.save(path)
        show_info(f"model saved to {os.fspath(path)}")

    @_notify_errors
    def load_model(self, path: str | os.PathLike) -> None:
        """Load a model saved with 'Save model…'; apply it with 'Apply model'."""
        self._jobs.check_idle("loading a model")
        from .segmenter import Segmenter

        self._model = Segmenter.load(path, device=self.device.value)
        self._model_source = None
        self.status_panel.say(
            f"Loaded the model {os.path.basename(os.fspath(path))!r}: pick an image in 'Apply to' and press Apply model"
        )

    @_notify_errors
    def make_objects(self, _value: Any = None) -> None:
        """Make the objects of the *Objects of* layer: a Labels layer "<image> objects", the table as features."""
        self.objects_panel.make_objects()

    @_notify_errors
    def save_table(self, path: str | os.PathLike) -> None:
        """Save the table of the last *Make objects* to ``path`` (CSV)."""
        self.objects_panel.save_table(path)

    # ------------------------------------------------------------------ jobs
    def _start(
        self, kind: str, images: tuple[Image, ...], key: tuple, frames: Callable, *args: Any, **kwargs: Any
    ) -> None:
        self._jobs.start(kind, images, key, frames, *args, **kwargs)
        for panel in self._busy_panels:
            panel.set_busy(True)

    def _set_model(self, model: Segmenter) -> None:
        self._model = model

    def _cancel(self, reason: str) -> None:
        if self._jobs.cancel(reason):
            self.status_panel.say("Cancelling…")

    def _on_idle(self) -> None:
        for panel in self._busy_panels:
            panel.set_busy(False)
        self.live_panel.on_idle()

    @property
    def _busy_panels(self) -> tuple[RunControls | ModelPanel | ObjectsPanel, ...]:
        """The panels whose buttons wait while a job runs."""
        return (self.controls, self.models, self.objects_panel)
