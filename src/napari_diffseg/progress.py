"""The one progress protocol: long operations are generators of progress records.

:meth:`~napari_diffseg.segmenter.Segmenter.train`, :meth:`~napari_diffseg.segmenter.Segmenter.refine`
and :func:`~napari_diffseg.stack.iter_segment_stack` yield records; their ``callback=``
variants drive the generator with :func:`drive`, where a callback returning ``False`` stops it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import numpy as np

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """What one training iteration reports.

    Attributes
    ----------
    iteration : int
        Iterations completed in this call (1-based).
    max_iter : int
        Upper bound on iterations of this call.
    n_labels : int
        Distinct pseudo-labels before the update.
    loss : float
        Total loss of the iteration.
    """

    iteration: int
    max_iter: int
    n_labels: int
    loss: float


@dataclass(frozen=True)
class StackProgress:
    """What segmenting a stack reports.

    Attributes
    ----------
    phase : {"train", "label"}
        ``"train"``: one training iteration ran (``training`` says which); ``"label"``: the
        slice at ``index`` was labelled (``labels`` holds its labels).
    done : int
        Slices labelled so far, including those of a resumed run.
    n_slices : int
        Number of slices in the stack.
    index : tuple of int or None
        Position of the slice along the stack axes; ``None`` while "shared" mode trains
        on several slices at once.
    labels : numpy.ndarray or None
        The slice's labels (phase ``"label"``).
    training : Progress or None
        The training iteration (phase ``"train"``).
    """

    phase: Literal["train", "label"]
    done: int
    n_slices: int
    index: tuple[int, ...] | None
    labels: np.ndarray | None = None
    training: Progress | None = None


Callback = Callable[[Progress], Any]
StackCallback = Callable[[StackProgress], Any]


def drive(progress: Iterator[T], callback: Callable[[T], Any] | None = None) -> T | None:
    """Drive a generator of progress records to its end.

    Parameters
    ----------
    progress : iterator
        E.g. from :meth:`~napari_diffseg.segmenter.Segmenter.train` or
        :func:`~napari_diffseg.stack.iter_segment_stack`.
    callback : callable, optional
        Called with every record; returning ``False`` stops there (the generator is closed,
        so that it can clean up).

    Returns
    -------
    record or None
        The last record (None when none came).
    """
    last = None
    for last in progress:
        if callback is not None and callback(last) is False:
            close = getattr(progress, "close", None)
            if close is not None:
                close()
            break
    return last
