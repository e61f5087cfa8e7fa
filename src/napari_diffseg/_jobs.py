"""The life of one widget run: start, off-thread frames, live previews, cancel, and the undoable result.

:class:`JobRunner` owns the one job that may run at a time (:meth:`JobRunner.check_idle` is the
"already running" guard), feeds a :mod:`._runs` generator straight into a napari
``thread_worker``, shows previews in the output layer while keeping what the user paints
there, and writes the result as one undo step. :class:`JobView` is its read-only face.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from napari.layers import Image, Labels
from napari.utils import progress as progress_bar
from napari.utils.notifications import show_error, show_info

from . import _layers
from ._runs import Frame

if TYPE_CHECKING:
    import napari
    from napari.qt.threading import GeneratorWorker

    from .segmenter import Segmenter

ALL_SLICES_KIND = "all slices"


def _digest(array: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(array).tobytes(), digest_size=16).digest()


@dataclass
class Job:
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
    work: tuple[Callable[..., Iterator[Frame]], tuple, dict] | None = None  # frames(*args, **kwargs)
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.shown = self.before.copy()
        self.edited = np.zeros(self.before.shape, dtype=bool)

    def release(self) -> None:
        """Drop the arrays, layers, model and work this job holds, once its result is written.

        napari keeps a status entry of every worker it ran for the rest of the session, and
        through it the worker and this job; a released job holds only a few small fields.
        """
        self.before = self.shown = self.edited = self.result = None  # type: ignore[assignment]
        self.images, self.scribbles, self.work, self.worker = (), None, None, None

    @property
    def layers(self) -> tuple:
        return (*self.images, self.output, *(() if self.scribbles is None else (self.scribbles,)))


class JobView:
    """Read-only view of a running job."""

    def __init__(self, job: Job):
        self._job = job

    @property
    def kind(self) -> str:
        """``"train"``, ``"refine"``, ``"apply"`` or ``"all slices"``."""
        return self._job.kind

    @property
    def iterations(self) -> int:
        """Training iterations reported so far."""
        return self._job.iterations

    @property
    def finished(self) -> bool:
        """Whether its worker has ended."""
        return self._job.done.is_set()


class JobRunner:
    """Runs one job at a time in a napari worker thread and writes its result into the viewer.

    Parameters
    ----------
    viewer : napari.Viewer
        Where the output layers are.
    on_model : callable
        Receives the model a run trains, as soon as it exists.
    on_idle : callable
        Called with a status message when a job has ended (after its result is written).
    """

    def __init__(self, viewer: napari.Viewer, on_model: Callable[[Segmenter], None], on_idle: Callable[[str], None]):
        self._viewer = viewer
        self._on_model, self._on_idle = on_model, on_idle
        self._job: Job | None = None
        self._committed: dict[tuple[Any, tuple], bytes] = {}  # (layer id, plane) -> digest
        self.closed = False  # the Qt side was destroyed: a finishing run must not touch it

    @property
    def job(self) -> JobView | None:
        """The running job, or None."""
        return None if self._job is None else JobView(self._job)

    @property
    def running(self) -> bool:
        """Whether a job is running (only one runs at a time)."""
        return self._job is not None

    def check_idle(self, before: str | None = None) -> None:
        """Raise RuntimeError while a job runs (``before``: what the user wants to do next)."""
        if self._job is not None:
            if before is None:
                raise RuntimeError("a run is already in progress; wait for it or press Cancel")
            raise RuntimeError(f"wait for the run to finish before {before}")

    def uses(self, layer: Any) -> bool:
        """Whether the running job reads or writes ``layer``."""
        return self._job is not None and any(one == layer for one in self._job.layers)

    def start(
        self,
        kind: str,
        images: tuple[Image, ...],
        key: _layers.PlaneKey,
        frames: Callable[..., Iterator[Frame]],
        *args: Any,
        total: int,
        scribbles: Labels | None = None,
        **kwargs: Any,
    ) -> None:
        """Start ``frames(*args, **kwargs)`` as a job writing into the output layer of ``images[0]`` at ``key``."""
        from napari.qt.threading import create_worker

        self.check_idle()
        output = _layers.output_layer(self._viewer, images[0])
        before = _layers.read_plane(output, key).copy()
        pbar = progress_bar(total=total, desc=f"napari-diffseg {kind} {images[0].name!r}")
        job = Job(kind, images, output, key, before, pbar, scribbles=scribbles, work=(frames, args, kwargs))
        self._notify_replaced_edits(job)
        self._job = job
        handlers = {
            "yielded": functools.partial(self._on_frame, job),
            "errored": functools.partial(self._on_error, job),  # replaces the default re-raise
            "finished": functools.partial(self._finish, job),
        }
        job.worker = create_worker(_until_stopped, job, _start_thread=False, _connect=handlers)
        job.worker.start()

    def cancel(self, reason: str) -> bool:
        """Ask the running job to stop; False when none runs."""
        job = self._job
        if job is None or job.worker is None:
            return False
        job.stop_reason = reason
        job.stop.set()
        job.worker.quit()
        return True

    def stop_and_wait(self, timeout: float) -> None:
        """Let the worker stop at its next frame and wait for it (at most ``timeout`` seconds)."""
        job = self._job
        if job is not None and job.worker is not None:
            job.stop.set()
            job.done.wait(timeout)

    def _on_frame(self, job: Job, frame: Frame) -> None:
        if job.before is None:  # a frame queued before the job ended and was released
            return
        if frame.model is not None:
            self._on_model(frame.model)
        if frame.progress is not None:
            p = frame.progress
            job.iterations = p.iteration
            if job.kind == ALL_SLICES_KIND:  # the bar counts slices; training shows in its text
                job.pbar.set_description(f"training: iteration {p.iteration}, {p.n_labels} labels")
            else:
                job.pbar.update(p.iteration - job.pbar.n)
                job.pbar.set_description(f"{job.kind}: {p.n_labels} labels, loss {p.loss:.3f}")
        if job.before is None:  # the job ended while this frame was handled (events ran meanwhile)
            return
        if frame.final:
            job.result = job.shown.copy() if frame.labels is None else frame.labels
            job.pbar.update(job.pbar.total - job.pbar.n)
        elif frame.labels is not None and job.output in self._viewer.layers:
            where = frame.index + (slice(None),) * (job.before.ndim - len(frame.index))
            shown = self._keep_edits(job, frame.labels, where)
            _layers.show_plane(job.output, _layers.sub_key(job.key, where), shown)
            if frame.index:
                job.pbar.update(1)

    def _keep_edits(self, job: Job, labels: np.ndarray, where: tuple = ()) -> np.ndarray:
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

    def _on_error(self, job: Job, error: Exception) -> None:
        job.stop_reason = f"failed: {error}"
        show_error(f"napari-diffseg: {job.kind} failed: {error}")

    def _finish(self, job: Job) -> None:
        """Write the result (or the last preview, if cancelled) as one undo step; report the end."""
        job.pbar.close()
        self._job = None
        message = self._write_result(job)
        job.release()
        if not self.closed:
            self._on_idle(message)

    def _write_result(self, job: Job) -> str:
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

    def _notify_replaced_edits(self, job: Job) -> None:
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


def _until_stopped(job: Job) -> Iterator[Frame]:
    """The frames of a job (``job.work``) until ``job.stop`` is set; sets ``job.done`` however it ends."""
    assert job.work is not None
    frames, args, kwargs = job.work
    try:
        with contextlib.closing(frames(*args, **kwargs)) as steps:
            for frame in steps:
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
