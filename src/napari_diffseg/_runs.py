"""The work the widget runs off the GUI thread, as generators of :class:`Frame`.

Each generator is driven by a ``napari.qt.threading.thread_worker``; stopping the iteration
(``worker.quit()``) cancels within one training iteration. No Qt or napari here, and torch is
imported only once a generator starts running (in the worker thread).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .segmenter import Progress, Segmenter

PREVIEW_EVERY_S = 0.5


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
        Whether ``labels`` is the finished result.
    """

    model: Segmenter | None = None
    progress: Progress | None = None
    labels: np.ndarray | None = None
    final: bool = False


def _with_previews(model: Segmenter, steps: Iterator[Progress], threads: int | None) -> Iterator[Frame]:
    from .devices import torch_threads

    last_preview = time.monotonic()
    for progress in steps:
        labels = None
        if time.monotonic() - last_preview >= PREVIEW_EVERY_S:
            with torch_threads(threads):
                labels = model.labels()
            last_preview = time.monotonic()
        yield Frame(progress=progress, labels=labels)
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
    yield from _with_previews(model, model.refine(scribbles), model.params.threads)


def predict_frames(model: Segmenter, image: np.ndarray, channel_axis: int | None) -> Iterator[Frame]:
    """Label another 2D image with a trained model (one forward pass)."""
    from .devices import torch_threads

    with torch_threads(model.params.threads):
        labels = model.predict(image, channel_axis=channel_axis)
    yield Frame(labels=labels, final=True)
