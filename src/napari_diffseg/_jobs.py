"""The life of one widget run: start, off-thread frames, live previews, cancel, and the undoable result.

:class:`JobRunner` owns the one job that may run at a time (:meth:`JobRunner.check_idle` is the
"already running" guard), feeds a :mod:`._runs` generator straight into a napari
``thread_worker``, shows previews in the output layer while keeping what the user paints
there, and writes the result as one undo step. :class:`JobView` is its read-only face.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import hashlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from napari.layers import Image, Labels
from napari.utils import progress as progress_bar
from napari.utils.notifications import show_error, show_info

from . import _layers, _messages
from ._runs import Frame, one_blas_thread

if TYPE_CHECKING:
    import napari
    from napari.qt.threading import GeneratorWorker

    from .segmenter import Segmenter

ALL_SLICES_KIND = _messages.ALL_SLICES


class Reporter(Protocol):
    """Where a job reports (the widget's status panel)."""

    def begin(self, message: str, total: int) -> None:
        """A job starts: ``message`` says what it does, ``total`` steps to go."""

    def report(self, done: int, total: int, figures: str) -> None:
        """``done`` of ``total`` steps, with the job's figures."""

    def end(self, message: str) -> None:
        """The job is over: ``message`` says how it went."""


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
    n_slices: int = 0
    iterations: int = 0
    slices_done: int = 0
    stop_reason: str | None = None
    worker: GeneratorWorker | None = None
    work: tuple[Callable[..., Iterator[Frame]], tuple, dict] | None = None  # frames(*args, **kwargs)
    pending: collections.deque = field(default_factory=collections.deque)  # frames not handled yet
    handling: bool = False  # a frame is being handled
    finished: bool = False  # the worker has ended
    ended: bool = False  # its result is written
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.shown = self.before.copy()
        self.edited = np.zeros(self.before.shape, dtype=bool)

    def release(self) -> None:
        """Drop the arrays, layers, model and work this job holds, once its result is written.

        napari keeps a status entry of every worker it ran until it closes, and
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
    reporter : Reporter
        Shows what a job does, its progress and how it ended (napari's activity dock shows
        the progress too).
    on_model : callable
        Receives the model a run trains, as soon as it exists.
    on_idle : callable
        Called when a job has ended (after its result is written and reported).
    """

    def __init__(
        self,
        viewer: napari.Viewer,
        reporter: Reporter,
        on_model: Callable[[Segmenter], None],
        on_idle: Callable[[], None],
    ):
        self._viewer = viewer
        self._reporter = reporter
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
        """Start ``frames(*args, **kwargs)`` as a job writing into the output layer of ``images[0]`` at ``key``.

        ``total``: the job's steps (iterations; slices for All slices).
        """
        from napari.qt.threading import create_worker

        self.check_idle()
        output = _layers.output_layer(self._viewer, images[0])
        before = _layers.read_plane(output, key).copy()
        pbar = progress_bar(total=total, desc=f"napari-diffseg: {_messages.ACTIONS[kind]} {images[0].name!r}")
        n_slices = total if kind == ALL_SLICES_KIND else 0
        job = Job(
            kind, images, output, key, before, pbar, scribbles=scribbles, n_slices=n_slices, work=(frames, args, kwargs)
        )
        self._notify_replaced_edits(job)
        self._job = job
        self._reporter.begin(_messages.starting(kind, images[0].name, output.name, key, n_slices), total)
        handlers = {
            "yielded": functools.partial(self._on_frame, job),
            "errored": functools.partial(self._on_error, job),  # replaces the default re-raise
            "finished": functools.partial(self._on_finished, job),
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
        """Handle the worker's frames (and then its end) in order.

        napari's activity dock processes Qt events while it updates its bar, so the next
        frame, or the end, may arrive while one is being handled: they wait their turn.
        """
        if job.ended:  # released: nothing left to show it in
            return
        job.pending.append(frame)
        if job.handling:
            return
        job.handling = True
        try:
            while job.pending:
                self._handle_frame(job, job.pending.popleft())
        finally:
            job.handling = False
        if job.finished:
            self._finish(job)

    def _on_finished(self, job: Job) -> None:
        job.finished = True
        if not job.handling:
            self._finish(job)

    def _handle_frame(self, job: Job, frame: Frame) -> None:
        if frame.model is not None:
            self._on_model(frame.model)
        if frame.progress is not None:
            p = frame.progress
            job.iterations = p.iteration
            n_labels = p.n_labels if frame.n_classes is None else frame.n_classes
            figures = _messages.iteration_figures(p, n_labels, training_first=job.kind == ALL_SLICES_KIND)
            self._report(job, p.iteration, p.max_iter, figures)
        if frame.final:
            job.result = job.shown.copy() if frame.labels is None else frame.labels
            self._report(job, job.pbar.total, job.pbar.total, "")
        elif frame.labels is not None and job.output in self._viewer.layers:
            where = frame.index + (slice(None),) * (job.before.ndim - len(frame.index))
            shown = self._keep_edits(job, frame.labels, where)
            _layers.show_plane(job.output, _layers.sub_key(job.key, where), shown)
        if frame.index:
            job.slices_done += 1
            self._report(job, job.slices_done, job.n_slices, _messages.slice_figures(job.slices_done, job.n_slices))

    def _report(self, job: Job, done: int, total: int, figures: str) -> None:
        """Show progress in the widget and in napari's activity dock."""
        if figures:
            if not self.closed:
                self._reporter.report(done, total, figures)
            job.pbar.set_description(f"napari-diffseg: {figures}")
        if job.pbar.total != total:  # All slices: training iterations, then slices
            job.pbar.total = total
            job.pbar.n = 0
        job.pbar.update(done - job.pbar.n)

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
        show_error(f"napari-diffseg: {_messages.ACTIONS[job.kind]} failed: {error}")

    def _finish(self, job: Job) -> None:
        """Write the result (or the last preview, if cancelled) as one undo step; report the end."""
        if job.ended:
            return
        job.ended = True
        job.pbar.close()
        self._job = None
        message = self._write_result(job)
        job.release()
        if not self.closed:
            self._reporter.end(message)
            self._on_idle()

    def _write_result(self, job: Job) -> str:
        if job.output not in self._viewer.layers:
            return f"{_messages.ACTIONS[job.kind]} stopped: the output layer {job.output.name!r} was deleted"
        labels = job.result if job.result is not None else job.shown
        final = self._keep_edits(job, labels)
        changed = _layers.commit_plane(job.output, job.key, final, job.before)
        for plane_id, plane in _planes(job.key, final):
            self._committed[(job.output.unique_id, plane_id)] = _digest(plane)
        if job.edited.any():
            show_info(f"kept {int(job.edited.sum())} pixels you painted in {job.output.name!r} during the run")
        seconds = time.monotonic() - job.started
        name = job.output.name
        if job.result is None:
            reason = job.stop_reason or "cancelled"
            return _messages.stopped(job.kind, name, job.key, reason, job.iterations, bool(changed))
        n_labels = len(np.unique(job.result))
        return _messages.finished(job.kind, name, job.key, n_labels, job.iterations, seconds, job.n_slices)

    def _notify_replaced_edits(self, job: Job) -> None:
        """Say so when a run is about to replace labels that no earlier run of this widget wrote."""
        replaced = [
            plane_id
            for plane_id, plane in _planes(job.key, job.before)
            if plane.any() and self._committed.get((job.output.unique_id, plane_id)) != _digest(plane)
        ]
        if replaced:
            name = job.output.name
            plane = tuple(slice(None) if k < 0 else k for k in replaced[0])
            where = _messages.place(name, plane) if len(replaced) == 1 else f"{len(replaced)} slices of {name!r}"
            show_info(
                f"this run replaces edited labels in {where}; "
                "select that layer and press Ctrl+Z (undo) afterwards to bring them back"
            )


def _until_stopped(job: Job) -> Iterator[Frame]:
    """The frames of a job (``job.work``) until ``job.stop`` is set; sets ``job.done`` however it ends."""
    assert job.work is not None
    frames, args, kwargs = job.work
    try:
        with one_blas_thread(), contextlib.closing(frames(*args, **kwargs)) as steps:
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
