"""Segment every 2D slice of a stack with label ids that stay consistent across slices.

Read top-down: :class:`StackProgress` is what the callback receives; :func:`segment_stack`
is the entry point; :func:`train_shared` trains one network on several images (the
reference-image mode) and :func:`label_images` labels images with it; :func:`find_fragments`
and :func:`fill_fragments` fold speckle and boundary-band clusters into their surroundings;
:func:`match_ids` carries ids from one slice to the next in "independent" mode. Inputs and
outputs are in :mod:`napari_diffseg.stack_io`, the dask scale-out in :mod:`napari_diffseg.distributed`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .params import Params, resolve_params
from .segmenter import Progress, Segmenter, run
from .stack_io import SliceWriter, open_output, open_stack, read_slice

MODES = ("shared", "independent")
SPREAD_SLICES = 5  # slices of the spread sample that "shared" mode trains on by default
# A cluster more than this share of whose 4-neighbour pairs cross into other clusters is a
# fragment (a region thinner than about 1 / FRAGMENT_BOUNDARY ~ 7 pixels; see find_fragments).
FRAGMENT_BOUNDARY = 0.15


@dataclass(frozen=True)
class StackProgress:
    """What :func:`segment_stack` reports to its callback.

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


StackCallback = Callable[[StackProgress], Any]


@dataclass(frozen=True)
class StackLayout:
    """Which axes of a stack index slices and which belong to each 2D image."""

    shape: tuple[int, ...]
    stack_axes: tuple[int, ...]
    label_axes: tuple[int, ...]
    slice_channel_axis: int | None

    @property
    def stack_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[a] for a in self.stack_axes)

    @property
    def n_slices(self) -> int:
        return int(np.prod(self.stack_shape))

    @property
    def label_shape(self) -> tuple[int, ...]:
        return tuple(self.shape[a] for a in self.label_axes)

    @property
    def slice_chunks(self) -> tuple[int, ...]:
        return tuple(1 if a in self.stack_axes else self.shape[a] for a in self.label_axes)

    def position(self, flat: int) -> tuple[int, ...]:
        """Index along the stack axes of slice number ``flat`` (C order)."""
        return tuple(int(p) for p in np.unravel_index(flat, self.stack_shape))

    def image_index(self, flat: int) -> tuple:
        where = dict(zip(self.stack_axes, self.position(flat)))
        return tuple(where.get(a, slice(None)) for a in range(len(self.shape)))

    def label_index(self, flat: int) -> tuple:
        where = dict(zip(self.stack_axes, self.position(flat)))
        return tuple(where.get(a, slice(None)) for a in self.label_axes)


def stack_layout(shape: tuple[int, ...], axis: int | Sequence[int], channel_axis: int | None) -> StackLayout:
    """Check ``axis`` and ``channel_axis`` against ``shape`` and describe the slices.

    Raises
    ------
    ValueError
        When an axis is out of range or repeated, the channel axis is a stack axis, or
        the slices are not 2D images (optionally with channels).
    TypeError
        When an axis is not an integer.
    """
    ndim = len(shape)
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    for name, value in [("axis", a) for a in axes] + [("channel_axis", channel_axis)]:
        if value is None and name == "channel_axis":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an integer (or a tuple of integers for axis); got {value!r}")
        if not -ndim <= value < ndim:
            raise ValueError(f"{name} {value} is out of range for a {ndim}D stack of shape {tuple(shape)}")
    stack_axes = tuple(sorted({int(a) % ndim for a in axes}))
    if len(stack_axes) != len(axes):
        raise ValueError(f"axis {tuple(axes)} names one axis twice")
    channel = None if channel_axis is None else int(channel_axis) % ndim
    if channel in stack_axes:
        raise ValueError(f"channel_axis {channel_axis} is also a stack axis; they must differ")
    image_axes = [a for a in range(ndim) if a not in stack_axes]
    rgb = channel is None and len(image_axes) == 3 and image_axes[-1] == ndim - 1 and shape[-1] in (3, 4)
    spatial = [a for a in image_axes if a != channel and not (rgb and a == ndim - 1)]
    if len(spatial) != 2:
        raise ValueError(
            f"slices of a stack of shape {tuple(shape)} along axis {tuple(axes)} are "
            f"{len(image_axes)}D; pass every non-spatial axis as axis (a tuple) and channels as channel_axis"
        )
    slice_channel = None if channel is None else image_axes.index(channel)
    label_axes = tuple(a for a in range(ndim) if a in stack_axes or a in spatial)
    return StackLayout(tuple(int(n) for n in shape), stack_axes, label_axes, slice_channel)


def segment_stack(
    stack: Any,
    scribbles: Any = None,
    *,
    axis: int | Sequence[int] = 0,
    channel_axis: int | None = None,
    mode: Literal["shared", "independent"] = "shared",
    train_slices: Sequence[int | Sequence[int]] | None = None,
    preset: str | Params = "fast",
    seed: int = 0,
    out: Any = None,
    client: Any = None,
    callback: StackCallback | None = None,
    overwrite: bool = False,
    model: Segmenter | str | None = None,
    save_model: str | os.PathLike | None = None,
    merge_fragments: bool = True,
    device: str = "auto",
    **params: Any,
) -> Any:
    """Segment every 2D slice of a stack with consistent label ids.

    Parameters
    ----------
    stack : array_like, dask array, zarr array, str or path-like
        The stack, or a path to a ``.zarr``, ``.npy`` or TIFF file. It is read one slice
        at a time, never as a whole.
    scribbles : array_like or path, optional
        napari-style scribbles (0 = unlabeled) with the labels' shape: the stack's shape
        without its channel axis. Only painted slices are read into memory.
    axis : int or tuple of int
        The stack axis, or every axis that is neither spatial nor the channel axis.
    channel_axis : int, optional
        Axis of ``stack`` holding channels (a trailing axis of 3 or 4 is taken as RGB).
    mode : {"shared", "independent"}
        ``"shared"``: train one network on the painted slices, else on ``train_slices``,
        else on an even spread of up to 5 slices, then label every slice with one
        eval-mode forward pass (BatchNorm statistics of the training slices) and one
        channel-to-id mapping, so a structure keeps its id in every slice (see also
        ``merge_fragments``).
        ``"independent"``: train on each slice in turn, warm-started from the previous
        one, and give each region the id of the previous slice's region it overlaps most
        (:func:`match_ids`); painted slices keep their painted ids.
    train_slices : sequence of int (or of index tuples for several stack axes), optional
        The slices "shared" mode trains on (flat indices in C order for several axes);
        their scribbles, if any, are used.
    preset : {"fast", "paper"} or Params
        Training parameters; "shared" mode always predicts with ``final_forward="eval"``.
    seed : int
        Same input and seed give identical labels on the CPU.
    out : str, path-like or array, optional
        Where to write: a ``.zarr`` path (one chunk per slice; an interrupted run resumes
        without redoing finished slices), a ``.tif`` path (written slice by slice), or a
        writable array of the labels' shape. Default: a new numpy array.
    client : dask.distributed.Client, optional
        Label the slices as tasks on this cluster ("shared" mode): the trained weights go
        once to every worker, and every task pins torch to this process's thread count,
        so the labels equal those of a local run.
    callback : callable, optional
        Called with a :class:`StackProgress` after every training iteration (phase
        ``"train"``) and after every labelled slice (phase ``"label"``, with the slice's
        ``index`` and ``labels``; on a cluster in order of arrival). Returning ``False``
        stops the run cleanly: finished slices stay written (a zarr output resumes from
        there), the others stay 0, and the output is returned.
    overwrite : bool
        Replace an existing ``out`` path instead of refusing it.
    model : Segmenter or path, optional
        A trained model to label with instead of training ("shared" mode); ``preset``,
        ``train_slices`` and ``**params`` are then ignored.
    save_model : path, optional
        Save the trained model there ("shared" mode, before labelling) so that a later
        run with ``model=`` labels this or another stack without training again; a run
        with that model gives the same labels as this one.
    merge_fragments : bool
        Without scribbles, fold fragment clusters (noise speckle and the thin bands the
        network draws along boundaries; :func:`find_fragments`, found on an even spread
        of slices) into the nearest other cluster, pixel by pixel
        (:func:`fill_fragments`). In "independent" mode each slice's own fragments are
        folded. Turn off to keep structures thinner than about 7 pixels.
    device : {"auto", "cpu", "cuda", "mps"}
        Where to compute.
    **params
        Overrides of any :class:`~napari_diffseg.params.Params` field.

    Returns
    -------
    numpy.ndarray, zarr.Array or numpy.memmap
        uint16 (uint32 when ids may not fit) labels: the stack's shape without the channel
        axis, never 0 on a labelled slice. With ``out``, the array written to.

    Raises
    ------
    ValueError
        For an axis, mode or train slice out of range, scribbles of another shape, an
        existing ``out`` path (without ``overwrite``), a read-only output, or a client in
        "independent" mode (which is sequential).

    Examples
    --------
    >>> import numpy as np
    >>> from napari_diffseg import segment_stack
    >>> stack = np.zeros((4, 32, 32)); stack[:, 8:24, 8:24] = 1
    >>> labels = segment_stack(stack, max_iter=10)
    >>> labels.shape
    (4, 32, 32)
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    if client is not None and mode != "shared":
        raise ValueError("mode='independent' labels slices one after another; use mode='shared' with a client")
    source = open_stack(stack)
    layout = stack_layout(tuple(source.shape), axis, channel_axis)
    painted, max_painted, scribble_digest = _scan_scribbles(scribbles, layout)
    train_flats = _train_flats(train_slices, layout)
    if (model is not None or save_model is not None) and mode != "shared":
        raise ValueError("model and save_model belong to mode='shared'; drop them or change mode")
    segmenter = _as_segmenter(model, device) if model is not None else None
    run_params = segmenter.params if segmenter is not None else resolve_params(preset, **params)
    if mode == "shared":
        run_params = run_params.replace(final_forward="eval")
    max_id = max_painted + 1 + run_params.channels * (1 if mode == "shared" else layout.n_slices)
    model_digest = _model_digest(segmenter)
    fingerprint = _fingerprint(
        layout, source, mode, run_params, seed, train_flats, scribble_digest, model_digest, merge_fragments
    )
    writer = open_output(
        out,
        layout.label_shape,
        np.dtype(np.uint16 if max_id <= np.iinfo(np.uint16).max else np.uint32),
        slice_chunks=layout.slice_chunks,
        fingerprint=fingerprint,
        overwrite=overwrite,
    )
    scribble_source = None if scribbles is None else open_stack(scribbles)
    reporter = _Reporter(callback, layout, writer)
    if mode == "independent":
        _label_independently(
            source, scribble_source, layout, writer, reporter, run_params, seed, device, merge_fragments
        )
        return writer.array
    if len(writer.done) == layout.n_slices and save_model is None:
        return writer.array
    if segmenter is None:
        flats = train_flats or painted or spread(layout.n_slices)
        images = [read_slice(source, layout.image_index(f)) for f in flats]
        marks = None if scribble_source is None else [read_slice(scribble_source, layout.label_index(f)) for f in flats]
        segmenter = train_shared(
            images,
            marks,
            channel_axis=layout.slice_channel_axis,
            preset=run_params,
            seed=seed,
            device=device,
            callback=reporter.training(None),
        )
        if segmenter is None:
            return writer.array
    if save_model is not None:
        segmenter.fix_ids()
        segmenter.save(save_model)  # before prepare_model pins this machine's thread count
    prepare_model(segmenter)
    fragments = []
    if merge_fragments:
        sample = (read_slice(source, layout.image_index(f)) for f in spread(layout.n_slices))
        fragments = shared_fragments(segmenter, sample, channel_axis=layout.slice_channel_axis)
    pending = [f for f in range(layout.n_slices) if f not in writer.done]
    images = ((f, read_slice(source, layout.image_index(f))) for f in pending)
    results = label_images(
        segmenter, images, channel_axis=layout.slice_channel_axis, client=client, device=device, fragments=fragments
    )
    for flat, labels in results:
        if not reporter.labelled(flat, labels):
            results.close()
            break
    return writer.array


def train_shared(
    images: Sequence[np.ndarray],
    scribbles: Sequence[np.ndarray | None] | None = None,
    *,
    channel_axis: int | None = None,
    preset: str | Params = "fast",
    seed: int = 0,
    device: str = "auto",
    callback: Callable[[Progress], Any] | None = None,
    **params: Any,
) -> Segmenter | None:
    """Train one network on several images of one kind (the reference-image mode).

    Images of different sizes are padded to a common size by mirroring (scribbles by
    zeros) for training only.

    Parameters
    ----------
    images : sequence of array_like
        2D, RGB(A) or multichannel images with the same channel layout.
    scribbles : sequence of array_like or None, optional
        One scribble array (or ``None``) per image.
    channel_axis : int, optional
        Axis of each image holding channels.
    preset, seed, device, **params
        As in :func:`~napari_diffseg.segment`; predictions use ``final_forward="eval"``.
    callback : callable, optional
        Called with each :class:`~napari_diffseg.segmenter.Progress`; return False to cancel.

    Returns
    -------
    Segmenter or None
        The trained model, ready for :meth:`~napari_diffseg.segmenter.Segmenter.predict`;
        ``None`` when the callback cancelled training.
    """
    if len(images) == 0:
        raise ValueError("train_shared needs at least one image")
    images = [np.asarray(image) for image in images]
    scribbles = [None] * len(images) if scribbles is None else [None if s is None else np.asarray(s) for s in scribbles]
    if len(scribbles) != len(images):
        raise ValueError(f"got {len(scribbles)} scribble arrays for {len(images)} images; pass one per image")
    images, scribbles = _pad_to_common_shape(images, scribbles, channel_axis)
    segmenter = Segmenter(resolve_params(preset, **params).replace(final_forward="eval"), seed=seed, device=device)
    cancelled = []

    def report(progress: Progress) -> bool:
        if callback is not None and callback(progress) is False:
            cancelled.append(progress)
            return False
        return True

    marks = scribbles if any(s is not None and np.any(s) for s in scribbles) else None
    if len(images) == 1:
        run(segmenter.train(images[0], None if marks is None else marks[0], channel_axis=channel_axis), report)
    else:
        run(segmenter.train(images, marks, channel_axis=channel_axis), report)
    return None if cancelled else segmenter


def prepare_model(segmenter: Segmenter) -> None:
    """Make a model label alike wherever and in whatever order it labels images.

    Fixes its ids (:meth:`~napari_diffseg.segmenter.Segmenter.fix_ids`) and pins its torch
    thread count (to torch's current setting unless ``threads`` is set): dask workers
    change OpenMP settings.
    """
    if segmenter.params.threads is None:
        import torch

        segmenter.params = segmenter.params.replace(threads=torch.get_num_threads())
    segmenter.fix_ids()


def shared_fragments(
    segmenter: Segmenter, images: Iterable[np.ndarray], *, channel_axis: int | None = None
) -> list[int]:
    """The fragment ids (:func:`find_fragments`) of a model's labels on ``images``.

    Empty for a model trained with scribbles: then every id is a painted class.
    """
    if segmenter.scribble_ids.size:
        return []
    return find_fragments([segmenter.predict(image, channel_axis=channel_axis) for image in images])


def label_images(
    segmenter: Segmenter,
    images: Iterable[tuple[Any, np.ndarray]],
    *,
    channel_axis: int | None = None,
    client: Any = None,
    device: str = "auto",
    fragments: Sequence[int] = (),
) -> Iterator[tuple[Any, np.ndarray]]:
    """Label ``(key, image)`` pairs with one model; yield ``(key, labels)``.

    The model is prepared first (:func:`prepare_model`), so that labels do not depend on
    the order or the place images are labelled in: locally in order, or on ``client``'s
    cluster in order of completion. Pixels of ``fragments`` ids are filled from their
    surroundings (:func:`fill_fragments`).
    """
    prepare_model(segmenter)
    fragments = [int(f) for f in fragments]
    if client is None:
        return ((key, label_image(segmenter, image, channel_axis, fragments)) for key, image in images)
    from .distributed import predict_on_cluster

    return predict_on_cluster(
        client, _model_bytes(segmenter), images, channel_axis=channel_axis, device=device, fragments=fragments
    )


def label_image(
    segmenter: Segmenter, image: np.ndarray, channel_axis: int | None, fragments: Sequence[int]
) -> np.ndarray:
    """One image's labels: :meth:`~napari_diffseg.segmenter.Segmenter.predict`, then :func:`fill_fragments`."""
    return fill_fragments(segmenter.predict(image, channel_axis=channel_axis), fragments)


def find_fragments(label_slices: Sequence[np.ndarray], boundary: float = FRAGMENT_BOUNDARY) -> list[int]:
    """Ids that are fragments rather than structures: noise speckle and boundary bands.

    Unsupervised clustering of a noisy image splits a uniform region into interleaved
    clusters, and the network's small receptive field draws bands a few pixels wide along
    boundaries. Both have most of their pixels next to other ids, unlike a structure: a
    disk of radius ``r`` has a share of about ``1 / (2 r)`` of its 4-neighbour pairs
    crossing its border. Counting those pairs over ``label_slices``, the id with the
    largest crossing share is a fragment while that share exceeds ``boundary``; it is
    then counted as part of the id it touches most, and the shares are updated, so that
    of two interleaved halves of one region only one is a fragment.

    Parameters
    ----------
    label_slices : sequence of numpy.ndarray
        2D integer labels (e.g. a spread of slices labelled by one model).
    boundary : float
        Crossing share above which an id is a fragment (0.15: thinner than ~7 pixels).

    Returns
    -------
    list of int
        The fragment ids, sorted; never all ids.
    """
    ids = np.unique(np.concatenate([np.unique(labels) for labels in label_slices]))
    n = ids.size
    contact = np.zeros((n, n), dtype=np.int64)
    for labels in label_slices:
        index = np.searchsorted(ids, labels)
        for a, b in ((index[1:], index[:-1]), (index[:, 1:], index[:, :-1])):
            contact += np.bincount((a * n + b).ravel(), minlength=n * n).reshape(n, n)
    contact = contact + contact.T
    alive = np.ones(n, dtype=bool)
    fragments: list[int] = []
    while alive.sum() > 1:
        total = contact.sum(1)
        crossing = np.where(alive & (total > 0), 1 - np.diag(contact) / np.maximum(total, 1), -1.0)
        worst = int(crossing.argmax())
        if crossing[worst] <= boundary:
            break
        touching = np.where(alive, contact[worst], -1)
        touching[worst] = -1
        into = int(touching.argmax())
        contact[into] += contact[worst]
        contact[:, into] += contact[:, worst]
        contact[worst] = contact[:, worst] = 0
        alive[worst] = False
        fragments.append(int(ids[worst]))
    return sorted(fragments)


def fill_fragments(labels: np.ndarray, fragments: Sequence[int]) -> np.ndarray:
    """Give every pixel of a ``fragments`` id the id of the nearest other pixel (city-block).

    A band along a boundary is thereby split between the regions on its two sides, and
    speckle joins the region around it. Labels without fragment pixels (or with nothing
    else) are returned unchanged.
    """
    if len(fragments) == 0:
        return labels
    mask = np.isin(labels, fragments)
    if not mask.any() or mask.all():
        return labels
    from scipy import ndimage

    nearest = ndimage.distance_transform_cdt(mask, metric="taxicab", return_distances=False, return_indices=True)
    return labels[tuple(nearest)]


def spread(count: int, size: int = SPREAD_SLICES) -> list[int]:
    """Up to ``size`` evenly spread indices among ``count`` items (first and last included)."""
    return sorted({int(i) for i in np.linspace(0, count - 1, min(count, size)).round()})


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


# ---------------------------------------------------------------------- helpers
class _Reporter:
    """Writes finished slices and turns progress into :class:`StackProgress` callbacks."""

    def __init__(self, callback: StackCallback | None, layout: StackLayout, writer: SliceWriter):
        self.callback, self.layout, self.writer = callback, layout, writer
        self.cancelled = False

    def _send(self, progress: StackProgress) -> bool:
        if self.callback is not None and self.callback(progress) is False:
            self.cancelled = True
        return not self.cancelled

    def training(self, flat: int | None) -> Callable[[Progress], bool]:
        index = None if flat is None else self.layout.position(flat)
        n_slices = self.layout.n_slices
        return lambda p: self._send(StackProgress("train", len(self.writer.done), n_slices, index, training=p))

    def labelled(self, flat: int, labels: np.ndarray) -> bool:
        """Write one slice's labels, then report them; False when the callback cancels."""
        labels = labels.astype(self.writer.array.dtype, copy=False)
        self.writer.write(flat, self.layout.label_index(flat), labels)
        index = self.layout.position(flat)
        return self._send(StackProgress("label", len(self.writer.done), self.layout.n_slices, index, labels))


def _label_independently(
    source: Any,
    scribbles: Any,
    layout: StackLayout,
    writer: SliceWriter,
    reporter: _Reporter,
    params: Params,
    seed: int,
    device: str,
    merge_fragments: bool,
) -> None:
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
        run(training, reporter.training(flat))
        if reporter.cancelled:
            return
        labels = segmenter.labels().astype(np.int64)
        if marks is None and merge_fragments:
            labels = fill_fragments(labels, find_fragments([labels]))
        if marks is None and previous is not None:
            labels, next_id = match_ids(labels, previous, next_id)
        next_id = max(next_id, int(labels.max()) + 1)
        if not reporter.labelled(flat, labels):
            return
        previous = labels


def _scan_scribbles(scribbles: Any, layout: StackLayout) -> tuple[list[int], int, str | None]:
    """Painted slices, the largest painted id and a digest, reading one slice at a time."""
    if scribbles is None:
        return [], 0, None
    source = open_stack(scribbles)
    if tuple(source.shape) != layout.label_shape:
        raise ValueError(
            f"scribbles have shape {tuple(source.shape)} but the stack's labels have shape "
            f"{layout.label_shape} (the stack's shape without its channel axis); paint on a layer of that shape"
        )
    painted, largest, digest = [], 0, hashlib.sha1()
    for flat in range(layout.n_slices):
        marks = read_slice(source, layout.label_index(flat))
        digest.update(np.ascontiguousarray(marks).tobytes())
        if np.any(marks):
            painted.append(flat)
            largest = max(largest, int(np.max(marks)))
    return painted, largest, digest.hexdigest()


def _train_flats(train_slices: Sequence[Any] | None, layout: StackLayout) -> list[int]:
    if train_slices is None:
        return []
    n_slices, flats = layout.n_slices, []
    for item in train_slices:
        position = (item,) if np.ndim(item) == 0 else tuple(item)
        if len(position) == 1:
            flat = position[0]
            if isinstance(flat, bool) or not isinstance(flat, (int, np.integer)) or not 0 <= flat < n_slices:
                raise ValueError(f"train slice {item!r} is out of range; the stack has slices 0..{n_slices - 1}")
        else:
            if len(position) != len(layout.stack_shape) or any(
                not 0 <= p < n for p, n in zip(position, layout.stack_shape)
            ):
                raise ValueError(f"train slice {item!r} is out of range for stack axes of shape {layout.stack_shape}")
            flat = int(np.ravel_multi_index(position, layout.stack_shape))
        flats.append(int(flat))
    if not flats:
        raise ValueError("train_slices is empty; pass at least one slice or None")
    return sorted(set(flats))


def _pad_to_common_shape(
    images: list[np.ndarray], scribbles: list[np.ndarray | None], channel_axis: int | None
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    spatial = [_spatial_axes(image, channel_axis) for image in images]
    sizes = [tuple(image.shape[a] for a in axes) for image, axes in zip(images, spatial)]
    target = tuple(max(size[i] for size in sizes) for i in range(2))
    if all(size == target for size in sizes):
        return images, scribbles
    padded_images, padded_marks = [], []
    for image, marks, axes, size in zip(images, scribbles, spatial, sizes):
        pad = [(0, 0)] * image.ndim
        for axis_, have, want in zip(axes, size, target):
            pad[axis_] = (0, want - have)
        padded_images.append(np.pad(image, pad, mode="symmetric"))
        extra = [(0, want - have) for have, want in zip(size, target)]
        padded_marks.append(None if marks is None else np.pad(marks, extra))
    return padded_images, padded_marks


def _spatial_axes(image: np.ndarray, channel_axis: int | None) -> tuple[int, int]:
    if image.ndim == 2 or channel_axis is None:
        return 0, 1
    channel = channel_axis % image.ndim
    first, second = (a for a in range(image.ndim) if a != channel)
    return first, second


def _as_segmenter(model: Segmenter | str, device: str) -> Segmenter:
    return model if isinstance(model, Segmenter) else Segmenter.load(model, device=device)


def _model_bytes(segmenter: Segmenter) -> bytes:
    buffer = io.BytesIO()
    segmenter.save(buffer)
    return buffer.getvalue()


def _model_digest(segmenter: Segmenter | None) -> str | None:
    return None if segmenter is None else hashlib.sha1(_model_bytes(segmenter)).hexdigest()


def _fingerprint(
    layout: StackLayout,
    source: Any,
    mode: str,
    params: Params,
    seed: int,
    train_flats: list[int],
    scribble_digest: str | None,
    model_digest: str | None,
    merge_fragments: bool,
) -> dict[str, Any]:
    description = {
        "n_slices": layout.n_slices,
        "stack_shape": layout.shape,
        "stack_dtype": str(source.dtype),
        "stack_axes": layout.stack_axes,
        "mode": mode,
        "params": params.to_dict(),
        "seed": seed,
        "train_slices": train_flats,
        "scribbles": scribble_digest,
        "model": model_digest,
        "merge_fragments": merge_fragments,
    }
    return json.loads(json.dumps(description))
