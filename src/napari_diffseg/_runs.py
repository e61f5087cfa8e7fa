"""The work the widget runs off the GUI thread, as generators of :class:`Frame`.

Each generator is driven by a ``napari.qt.threading.thread_worker``; stopping the iteration
(``worker.quit()``) cancels within one training iteration. No Qt or napari here, and torch is
imported only once a generator starts running (in the worker thread).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .segmenter import Progress, Segmenter

PREVIEW_EVERY_S = 0.5  # live previews at most this often...
PREVIEW_SHARE = 4  # ...and no sooner than 4x the last preview's own duration after it
REFINE_FIRST_PREVIEW_S = 1.0  # a Refine usually ends sooner: its result is the first thing shown


@dataclass(frozen=True)
class Frame:
    """One report from a running job.

    Attributes
    ----------
    model : Segmenter or None
        The model being trained (sent once, first).
    progress : Progress or None
        Training progress after an iteration.
    labels : numpy.ndarray or None
        A preview (``final`` False) or the result (``final`` True).
    final : bool
        Whether the job finished (with ``labels`` as its result, if it has one).
    index : tuple of int
        For stacks: the position of the slice ``labels`` belongs to.
    n_classes : int or None
        With ``progress``: how many ids the output will hold, when that is not the
        pseudo-label count of ``progress`` (scribbles that decide every pixel: the painted
        classes).
    """

    model: Segmenter | None = None
    progress: Progress | None = None
    labels: np.ndarray | None = None
    final: bool = False
    index: tuple[int, ...] = ()
    n_classes: int | None = None


def warm_up() -> None:
    """Import what the first run needs, ahead of it, in a background thread.

    The first optimiser torch builds imports several seconds of modules, holding the GIL
    for stretches that would freeze the GUI during the first run, and napari's first Labels
    layer (the output) imports pandas on the GUI thread; run this when the widget opens.
    """
    import pandas  # noqa: F401
    import torch

    from . import segmenter  # noqa: F401

    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """numpy's BLAS (OpenBLAS) on one thread while a job runs off the GUI thread.

    The readouts' small matrix products gain little from more threads, and the threads of a
    multi-threaded OpenBLAS spin between products and starve the GUI thread (on two cores
    the spatial readout froze napari for seconds at a time). The limit holds for the whole
    process while a job runs; torch's threads are set apart, by the run's *CPU threads*.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def output_classes(model: Segmenter) -> int | None:
    """The number of classes in the model's output when its scribbles decide every pixel, else None.

    With ``unpainted="assign"`` every pixel takes a painted id, whatever the number of
    pseudo-labels the network still separates.
    """
    painted = model.scribble_ids.size
    return painted if painted and model.params.unpainted == "assign" else None


def _with_previews(
    model: Segmenter, steps: Iterator[Progress], threads: int | None, first_after: float | None = None
) -> Iterator[Frame]:
    from .devices import torch_threads

    last_preview = time.monotonic()
    interval = PREVIEW_EVERY_S if first_after is None else first_after
    for progress in steps:
        labels = None
        if time.monotonic() - last_preview >= interval:
            started = time.monotonic()
            with torch_threads(threads):
                labels = model.labels()
            last_preview = time.monotonic()
            # Previews take at most a fifth of the run, however slow labelling is here.
            interval = max(PREVIEW_EVERY_S, PREVIEW_SHARE * (last_preview - started))
        yield Frame(progress=progress, labels=labels, n_classes=output_classes(model))
    with torch_threads(threads):
        labels = model.labels()
    yield Frame(labels=labels, final=True)


def train_frames(
    image: np.ndarray,
    scribbles: np.ndarray | None,
    *,
    channel_axis: int | None,
    preset: str,
    seed: int,
    device: str,
    params: dict[str, Any],
) -> Iterator[Frame]:
    """Train a new model on one 2D image, yielding the model, progress, previews and the result."""
    from .segmenter import Segmenter

    model = Segmenter(preset, seed=seed, device=device, **params)
    yield Frame(model=model)
    steps = model.train(image, scribbles, channel_axis=channel_axis)
    yield from _with_previews(model, steps, model.params.threads)


def refine_frames(model: Segmenter, scribbles: np.ndarray) -> Iterator[Frame]:
    """Continue training ``model`` on its image with edited scribbles."""
    yield from _with_previews(model, model.refine(scribbles), model.params.threads, REFINE_FIRST_PREVIEW_S)


def predict_frames(model: Segmenter, image: np.ndarray, channel_axis: int | None) -> Iterator[Frame]:
    """Label another 2D image with a trained model (one forward pass)."""
    from .devices import torch_threads

    with torch_threads(model.params.threads):
        labels = model.predict(image, channel_axis=channel_axis)
    yield Frame(labels=labels, final=True)


def stack_frames(stack: Any, scribbles: Any, *, stop: threading.Event | None = None, **options: Any) -> Iterator[Frame]:
    """Label every slice of a stack with :func:`~napari_diffseg.stack.iter_segment_stack`.

    Yields training progress and each slice's labels as it is done, then a final frame.
    Setting ``stop`` cancels at the next training iteration or slice (as does closing the
    generator). ``options`` are passed on to ``iter_segment_stack``.
    """
    from .stack import iter_segment_stack

    _labels, steps = iter_segment_stack(stack, scribbles, **options)
    for report in steps:
        if report.phase == "train":
            yield Frame(progress=report.training)
        else:
            yield Frame(labels=report.labels, index=report.index)
        if stop is not None and stop.is_set():
            steps.close()
            break
    yield Frame(final=True)
