"""Independent mode: train on each slice in turn (warm-started) and carry ids by overlap."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..params import Params
from ..postprocess import fill_fragments, find_fragments
from ..progress import StackProgress
from ..segmenter import Segmenter
from .io import StackSink, read_slice


def independent_steps(
    source: Any, scribbles: Any, sink: StackSink, *, params: Params, seed: int, device: str, merge_fragments: bool
) -> Iterator[StackProgress]:
    """Label every pending slice of ``source`` on its own, yielding training and label records.

    Each slice is trained on warm-started from the previous one; without scribbles its
    fragments are folded (``merge_fragments``) and its regions take the ids of the previous
    slice's regions they match (:func:`match_ids`); painted slices keep their painted ids.
    """
    layout, writer = sink.layout, sink.writer
    segmenter = Segmenter(params, seed=seed, device=device)
    pending = [f for f in range(layout.n_slices) if f not in writer.done]
    next_id = 1 if scribbles is None else int(np.max(scribbles, initial=0)) + 1
    for flat in sorted(writer.done):  # resuming: continue the ids of finished slices
        next_id = max(next_id, int(writer.read(layout.label_index(flat)).max(initial=0)) + 1)
    previous = writer.read(layout.label_index(pending[0] - 1)) if pending and pending[0] > 0 else None
    for count, flat in enumerate(pending):
        image = read_slice(source, layout.image_index(flat))
        marks = None if scribbles is None else read_slice(scribbles, layout.label_index(flat))
        marks = marks if marks is not None and np.any(marks) else None
        training = segmenter.train(image, marks, channel_axis=layout.slice_channel_axis, warm_start=count > 0)
        index = layout.position(flat)
        for progress in training:
            yield StackProgress("train", sink.done, layout.n_slices, index, training=progress)
        labels = segmenter.labels().astype(np.int64)
        if marks is None and merge_fragments:
            labels = fill_fragments(labels, find_fragments([labels]))
        if marks is None and previous is not None:
            labels, next_id = match_ids(labels, previous, next_id)
        next_id = max(next_id, int(labels.max()) + 1)
        written = sink.write(flat, labels)
        yield StackProgress("label", sink.done, layout.n_slices, index, written)
        previous = labels


def match_ids(labels: np.ndarray, previous: np.ndarray, next_id: int) -> tuple[np.ndarray, int]:
    """Give each region of ``labels`` the id of the ``previous`` region it matches best.

    Regions are matched one to one by maximal total IoU (Hungarian assignment on the
    overlap matrix); a region with no overlapping partner gets a new id from ``next_id``.

    Returns
    -------
    (numpy.ndarray, int)
        The relabelled slice (int64) and the next unused id.
    """
    from scipy.optimize import linear_sum_assignment

    ids, inverse = np.unique(labels, return_inverse=True)
    previous_ids, previous_inverse = np.unique(previous, return_inverse=True)
    pairs = inverse.ravel() * previous_ids.size + previous_inverse.ravel()
    overlap = np.bincount(pairs, minlength=ids.size * previous_ids.size).reshape(ids.size, previous_ids.size)
    union = overlap.sum(1, keepdims=True) + overlap.sum(0, keepdims=True) - overlap
    rows, cols = linear_sum_assignment(overlap / union, maximize=True)
    mapping = np.full(ids.size, -1, dtype=np.int64)
    matched = overlap[rows, cols] > 0
    mapping[rows[matched]] = previous_ids[cols[matched]]
    new = mapping < 0
    mapping[new] = np.arange(next_id, next_id + int(new.sum()))
    return mapping[inverse].reshape(labels.shape), next_id + int(new.sum())
