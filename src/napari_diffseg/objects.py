"""Objects from classes: split the chosen classes of a label image into instances and measure them.

Pure numpy / scipy / scikit-image / edt / pandas (no torch, no napari), so the napari layer and the
command line only pass arrays in and write the results out.

How objects are made, for every chosen class on its own (``r`` is the typical radius):

1. the *typical radius* ``r`` is read off the data: (d + 1) times the mean distance of the
   class's pixels to the background (Euclidean distance transform, in physical units with
   ``spacing``; d = 2 or 3 dimensions). That is exactly r for discs (balls) of radius r, and
   it stays close for clumps of touching objects and for a mix of sizes, where specks weigh
   little because every pixel counts once;
2. the class mask is cleaned (``fill_holes``: holes under 5 % of a disc of radius ``r`` are
   filled; before the first split of a class that ``tighten`` then fits to the image, also the
   holes up to a whole disc whose mean intensity is at least 0.2 of the way from the mean outside
   the class to the class's mean, such as the dim interior of a textured nucleus that the class
   left out, not a dark gap between nuclei);
   connected components (face connectivity) smaller than ``min_size`` are dropped;
3. with ``split_touching``, seeds are the local maxima of the distance transform smoothed over
   ``r / 4`` (divided by ``r``, plus the image's normalised, smoothed intensity when ``image``
   is given), at least ``0.45 r`` apart (a minimum distance from the size, not a fixed pixel
   count), one per component at least; a seeded watershed of that surface, inside the mask,
   gives the objects. An object smaller than ``min_size`` that touches another is merged into it
   (its seed is removed and the watershed rerun); one that cannot be merged is dropped;
   with ``image`` and ``tighten`` (default 0.6), each object then keeps only its pixels brighter
   than 0.6 of the way from the local background intensity (outside the objects, Gaussian-
   weighted over ``r``) to its own median intensity (image smoothed over ``0.05 r``; holes this
   leaves inside one object are filled back), and steps 1-3 run again on what is left: a class
   drawn too wide loses its halo, dim gaps between touching nuclei open, and a dim nucleus
   beside a bright one keeps its own threshold. An object that is bright matter on dim matter
   (its pixels at or below its Otsu threshold stand out from the local background by less than
   0.35 of the contrast of those above it: nuclei in tissue that the class took in) keeps at
   most its pixels above its Otsu threshold;
4. with ``image`` and ``refine_boundaries``, each object's boundary moves to the strongest
   intensity edge near it: a watershed of the gradient magnitude (image smoothed over
   ``0.15 r``), seeded by the objects' cores (deeper than ``0.4 r``) and by the background
   farther than ``r`` from every object;
5. ``fill_holes``: every hole enclosed by a single object is filled (gaps between objects stay);
6. with ``split_touching``, two touching objects whose union covers at most 1.5 times the median
   object size and has a solidity of at least 0.9 are merged (one nucleus the watershed cut in
   two), and so are those of a group of at most 4 touching objects whose union covers at most 1.5
   times the median group with a solidity of at least 0.95 (nuclei lying apart, cut in pieces);
   the most convex unions first, each object once per round, up to three rounds.

The typical radius of step 1 is at most 1.6 times the median, over the class's components, of
their deepest distance to the background, so that a few large clumps of touching objects do not
inflate it.

All lengths scale with ``r``, so the same call works for 10-pixel and 100-pixel nuclei.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

# Fractions of the typical radius, tuned on the 40x DAPI tissue nuclei (benchmarks/objects.py).
SMOOTHING = 0.25
MIN_DISTANCE = 0.45
# Default ``min_size``: this fraction of the area (volume) of a disc (ball) of the typical radius.
MIN_SIZE_FRACTION = 0.1
INTENSITY_WEIGHT = 1.0
# Holes filled before splitting (specks of noise): this fraction of the typical object area. Before
# the first split of a class that is then tightened to the image, also the holes up to BRIGHT_HOLE of
# it whose mean intensity is at least HOLE_CONTRAST of the way from the background's mean to the
# class's (the dim interior of a textured nucleus that the class left out, not a dark gap).
SPECK_HOLE = 0.05
BRIGHT_HOLE = 1.0
HOLE_CONTRAST = 0.2
# Boundary refinement on the image: object cores deeper than CORE * r seed the objects, pixels
# farther than GROW * r from every object seed the background, edges smoothed over EDGE_SMOOTHING * r.
CORE = 0.4
GROW = 1.0
EDGE_SMOOTHING = 0.15
# Tightening to the image: the local background is averaged over BACKGROUND_REACH * r, the
# intensity smoothed over TIGHTEN_SMOOTHING * r.
BACKGROUND_REACH = 1.0
TIGHTEN_SMOOTHING = 0.05
# An object whose dim part (below its Otsu threshold) stands out from the local background by
# less than this share of its bright part's contrast is bright matter lying on dim matter.
DIM_SHARE = 0.35
OTSU_BINS = 256  # of each object's histogram for its Otsu threshold (scikit-image's default)
# The typical radius is at most this many times the median depth of the class's components.
RADIUS_CAP = 1.6
# Touching objects merge when their union covers at most MERGE_AREA times the median object size
# and its solidity is at least MERGE_SOLIDITY, or, in a group of at most MERGE_PIECES touching
# objects, at most MERGE_AREA times the median group (where objects stand apart: one nucleus cut in
# pieces) and at least MERGE_SOLIDITY_WIDE; up to MERGE_ROUNDS rounds.
MERGE_AREA = 1.5
MERGE_SOLIDITY = 0.9
MERGE_SOLIDITY_WIDE = 0.95  # two equal discs 1.5 radii apart
MERGE_PIECES = 4  # the wider merge: groups of at most this many objects
MERGE_ROUNDS = 3


@dataclass(frozen=True)
class SliceObjects:
    """The objects of one slice of a stack, as :func:`split_slices` yields them.

    Attributes
    ----------
    index : int
        Position of the slice along the stack's first axis.
    instances : numpy.ndarray
        uint32 (H, W) instance labels, 0 = background; ids continue those of earlier slices.
    n_objects : int
        Number of objects found in this slice.
    """

    index: int
    instances: np.ndarray
    n_objects: int


def object_classes(labels: np.ndarray) -> list[int]:
    """The classes that ``split_instances(labels)`` turns into objects when ``classes`` is None.

    With 0 in ``labels`` (napari's background), every positive id. Without 0 (the output of
    :func:`~napari_diffseg.segment`, which labels every pixel): with two classes, the one
    covering fewer pixels (the larger one is taken as the background); with more, the choice
    is the caller's.

    Raises
    ------
    ValueError
        When ``labels`` has no 0 and more than two classes.
    """
    ids, counts = np.unique(np.asarray(labels), return_counts=True)
    if ids.size and ids[0] == 0:
        return [int(i) for i in ids[1:]]
    if ids.size <= 1:
        return []
    if ids.size == 2:
        return [int(ids[np.argmin(counts)])]
    raise ValueError(
        f"labels have {ids.size} classes and no 0 background: pass classes=[...] "
        f"with the ids to turn into objects (ids present: {', '.join(map(str, ids[:10]))}"
        f"{', ...' if ids.size > 10 else ''})"
    )


def split_instances(
    labels: np.ndarray,
    classes: Sequence[int] | None = None,
    *,
    image: np.ndarray | None = None,
    split_touching: bool = True,
    min_size: float | None = None,
    fill_holes: bool = True,
    spacing: Sequence[float] | None = None,
    per_slice: bool = True,
    radius: float | None = None,
    refine_boundaries: bool = True,
    tighten: float = 0.6,
    workers: int | None = None,
) -> np.ndarray:
    """Turn the chosen classes of a label image into instance labels (touching objects split).

    Parameters
    ----------
    labels : numpy.ndarray
        Integer (H, W) label image, or an (N, H, W) Z or T stack of them (not modified).
    classes : sequence of int, optional
        The class ids to turn into objects; each class is split on its own, so objects never
        cross class boundaries. Default: :func:`object_classes` (every positive id when 0 is
        present; otherwise, of two classes, the smaller one).
    image : numpy.ndarray, optional
        The image that was segmented, same shape as ``labels`` with an optional trailing
        channel axis. Its smoothed intensity helps to place seeds and boundaries (objects may
        be brighter or darker than their surroundings; channels are normalised and averaged).
    split_touching : bool
        Split touching objects by a seeded watershed (see the module notes); False keeps
        connected components.
    min_size : float, optional
        Smallest object area (volume for 3D objects), in pixels, or in physical units with
        ``spacing``. Smaller isolated components are dropped, smaller pieces of a split are
        merged into their neighbour. Default: a tenth of the area of a disc (volume of a ball)
        of the typical radius measured on the data (see the module notes); 0 keeps everything.
    fill_holes : bool
        Fill small holes in the class before splitting (with ``image`` and ``tighten``, before
        the first split also holes up to the size of a typical object that are not dark: the dim
        interior of a textured nucleus; tightening takes out again what of them is dim) and
        every hole enclosed by a single object after it (gaps between touching objects stay
        background).
    spacing : sequence of float, optional
        Pixel size per axis of ``labels`` (e.g. a napari layer's ``scale``), for 3D objects and
        for ``min_size`` / ``radius`` in physical units. Default: 1 per axis.
    per_slice : bool
        For a stack: True labels 2D objects in every slice (ids unique across the stack);
        False links them into 3D objects across slices (anisotropic ``spacing`` respected).
    radius : float, optional
        Typical object radius (physical units with ``spacing``), when known; by default it is
        measured (see the module notes), which gives about the half-width of elongated objects.
        Seeds are at least 0.45 radius apart, so a larger radius splits less: for elongated,
        textured nuclei that the measured radius cuts across, give about half their length.
    refine_boundaries : bool
        With ``image``: move each object's boundary to the strongest intensity edge within
        the typical radius of it (a marker-controlled watershed of the image gradient,
        seeded by the objects' cores and by the background far from them). This corrects a
        class boundary that is a little too wide or too tight, so the objects' union may differ
        from the chosen classes near their edges.
    tighten : float
        With ``image``: fit the objects to the image before the final split. Each object of a
        first split loses its pixels dimmer than this fraction of the way from the local
        background intensity (the mean intensity outside the class within about one typical
        radius) to the object's median intensity (holes this opens inside an object are
        filled back); an object whose pixels at or below its Otsu threshold stand out from the
        local background by less than 0.35 of the contrast of those above it (nuclei in dim
        tissue that the class took in) keeps at most those above its Otsu threshold. The
        remaining mask is split again (radius, size filter and seeds measured anew). This
        removes the halo that a class drawn a little too wide adds around each nucleus and the
        dim tissue around nuclei that a class drawn far too wide takes in, and opens the dim
        gaps between touching ones. 0 turns it off; the default 0.6 and the share 0.35 were
        chosen on the 40x DAPI tissue nuclei and nuclei2d.
    workers : int, optional
        For a stack split per slice: how many slices are split at once, in threads (the work
        releases the GIL: 2 workers on 2 free cores took 0.6x the wall time of 1, on a loaded
        machine no less); None (default) = one per CPU core. A 2D image (or 3D objects) is split
        in one thread: threads inside one image gained nothing (docs/benchmarks.md). The result
        does not depend on it.

    Returns
    -------
    numpy.ndarray
        uint32 instance labels of ``labels``' shape, 0 = background, ids 1..n.

    Raises
    ------
    ValueError
        For labels that are not an integer 2D image or 3D stack, unknown ``classes``, an
        ``image`` of another shape, or invalid ``spacing`` / ``min_size`` / ``radius``.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.ones((40, 60), np.uint16)
    >>> yy, xx = np.mgrid[:40, :60]
    >>> labels[(yy - 20) ** 2 + (xx - 20) ** 2 < 100] = 2
    >>> labels[(yy - 20) ** 2 + (xx - 37) ** 2 < 100] = 2  # two touching discs
    >>> int(split_instances(labels, classes=[2]).max())
    2
    """
    labels, image, spacing = _check(labels, image, spacing, min_size, radius)
    chosen = _check_classes(labels, classes)
    _check_workers(workers)
    if labels.ndim == 3 and per_slice:
        out = np.zeros(labels.shape, np.uint32)
        for item in split_slices(
            labels,
            chosen,
            image=image,
            split_touching=split_touching,
            min_size=min_size,
            fill_holes=fill_holes,
            spacing=spacing,
            radius=radius,
            refine_boundaries=refine_boundaries,
            tighten=tighten,
            workers=workers,
        ):
            out[item.index] = item.instances
        return out
    options = _Options(split_touching, min_size, fill_holes, spacing, radius, refine_boundaries, tighten)
    return _split_classes(labels, chosen, image, options)


def split_slices(
    labels: np.ndarray,
    classes: Sequence[int] | None = None,
    *,
    image: np.ndarray | None = None,
    split_touching: bool = True,
    min_size: float | None = None,
    fill_holes: bool = True,
    spacing: Sequence[float] | None = None,
    radius: float | None = None,
    refine_boundaries: bool = True,
    tighten: float = 0.6,
    workers: int | None = None,
) -> Iterator[SliceObjects]:
    """Split a stack slice by slice, yielding each slice's objects as soon as it is done.

    The parameters are those of :func:`split_instances` (``spacing`` may give the stack's three
    axes or a slice's two); ``classes`` are resolved once for the whole stack, and ids run on
    from slice to slice, so the slices put back together equal
    ``split_instances(labels, ..., per_slice=True)``. Suited to progress bars and cancellation:
    stop iterating at any time. With several ``workers``, the next slices are split in threads
    while the current one is yielded (at most ``workers`` ahead).

    Yields
    ------
    SliceObjects
        One per slice, in order.
    """
    labels, image, spacing = _check(labels, image, spacing, min_size, radius)
    if labels.ndim != 3:
        raise ValueError(f"split_slices needs an (N, H, W) stack of labels, got shape {labels.shape}")
    chosen = _check_classes(labels, classes)
    options = _Options(
        split_touching,
        min_size,
        fill_holes,
        None if spacing is None else spacing[-2:],
        radius,
        refine_boundaries,
        tighten,
    )
    _check_workers(workers)

    def split(index: int) -> np.ndarray:
        return _split_classes(labels[index], chosen, None if image is None else image[index], options)

    offset = 0
    for index, instances in enumerate(_in_threads(split, labels.shape[0], workers or os.cpu_count() or 1)):
        n_objects = int(instances.max())
        instances[instances > 0] += offset
        offset += n_objects
        yield SliceObjects(index, instances, n_objects)


def _in_threads(work: Callable[[int], np.ndarray], n: int, workers: int) -> Iterator[np.ndarray]:
    """``work(0)``, ..., ``work(n - 1)`` in order, computed by ``workers`` threads at most ``workers`` ahead.

    Stopping the iteration cancels what has not started.
    """
    if workers == 1 or n <= 1:
        yield from (work(i) for i in range(n))
        return
    from concurrent.futures import ThreadPoolExecutor

    pool = ThreadPoolExecutor(max_workers=workers)
    pending: deque = deque()
    try:
        for i in range(n):
            pending.append(pool.submit(work, i))
            if len(pending) == workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class _Options:
    split_touching: bool
    min_size: float | None
    fill_holes: bool
    spacing: tuple[float, ...] | None
    radius: float | None
    refine_boundaries: bool
    tighten: float

    def __post_init__(self) -> None:
        if not 0 <= self.tighten <= 1:
            raise ValueError(f"tighten={self.tighten} must be between 0 (off) and 1")


def _check(
    labels: np.ndarray,
    image: np.ndarray | None,
    spacing: Sequence[float] | None,
    min_size: float | None,
    radius: float | None,
) -> tuple[np.ndarray, np.ndarray | None, tuple[float, ...] | None]:
    labels = np.asarray(labels)
    if labels.dtype == bool:
        labels = labels.view(np.uint8)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer label image, got dtype {labels.dtype}")
    if labels.ndim not in (2, 3):
        raise ValueError(f"labels must be 2D (H, W) or a stack (N, H, W), got shape {labels.shape}")
    if image is not None:
        image = np.asarray(image)
        if image.shape[: labels.ndim] != labels.shape or image.ndim > labels.ndim + 1:
            raise ValueError(
                f"image of shape {image.shape} does not fit labels of shape {labels.shape}: "
                "it must have the same shape, with at most one trailing channel axis"
            )
    if spacing is not None:
        spacing = tuple(float(s) for s in np.atleast_1d(spacing))
        if len(spacing) not in (2, labels.ndim) or not all(np.isfinite(s) and s > 0 for s in spacing):
            raise ValueError(f"spacing={spacing} must give one positive pixel size per axis of labels {labels.shape}")
    if min_size is not None and not min_size >= 0:
        raise ValueError(f"min_size={min_size} must be >= 0 (or None for the default)")
    if radius is not None and not radius > 0:
        raise ValueError(f"radius={radius} must be > 0 (or None to measure it)")
    return labels, image, spacing


def _check_workers(workers: int | None) -> None:
    if workers is not None and not (isinstance(workers, (int, np.integer)) and workers >= 1):
        raise ValueError(f"workers={workers} must be an integer >= 1, or None for one per CPU core")


def _check_classes(labels: np.ndarray, classes: Sequence[int] | None) -> list[int]:
    if classes is None:
        return object_classes(labels)
    chosen = [int(c) for c in np.atleast_1d(classes)]
    if 0 in chosen:
        raise ValueError("classes must not contain 0 (the background)")
    present = np.unique(labels)
    missing = sorted(set(chosen) - set(present.tolist()))
    if missing:
        raise ValueError(
            f"classes={chosen}: no pixel of labels has id {', '.join(map(str, missing))} "
            f"(ids present: {', '.join(map(str, present[:10]))}{', ...' if present.size > 10 else ''})"
        )
    return chosen


def _split_classes(labels: np.ndarray, classes: list[int], image: np.ndarray | None, options: _Options) -> np.ndarray:
    spacing = options.spacing if options.spacing is None or len(options.spacing) == labels.ndim else None
    if options.spacing is not None and spacing is None:
        raise ValueError(f"spacing={options.spacing} must give one pixel size per axis of labels {labels.shape}")
    intensity = None if image is None else _intensity(image, labels.ndim)
    out = np.zeros(labels.shape, np.uint32)
    for value in classes:
        mask = labels == value
        bright = intensity
        if intensity is not None and mask.any() and not mask.all() and intensity[mask].mean() < intensity[~mask].mean():
            bright = 1 - intensity  # dark objects on a bright background
        objects = _split_mask(mask, bright, options, spacing)
        out = np.where(objects > 0, objects + out.max(), out)
    return out


def _intensity(image: np.ndarray, ndim: int) -> np.ndarray:
    """Float image in [0, 1] (1st-99th percentile), channels averaged; NaN -> 0."""
    finite = np.issubdtype(image.dtype, np.integer)  # no NaN or infinity to look for or replace
    data = np.asarray(image, np.float32)
    data = data.reshape(*data.shape[:ndim], -1)
    nan = not finite and np.isnan(data).any()
    percentile = np.nanpercentile if nan else np.percentile  # the same values, twice as fast
    low, high = percentile(data, [1, 99], axis=tuple(range(ndim)))
    data = (data - low) / np.where(high > low, high - low, 1)
    np.clip(data, 0, 1, out=data)
    data = data[..., 0] if data.shape[-1] == 1 else data.mean(axis=-1)  # the mean of one value is that value
    return (data if finite else np.nan_to_num(data)).astype(np.float32)


def _split_mask(
    mask: np.ndarray, intensity: np.ndarray | None, options: _Options, spacing: tuple[float, ...] | None
) -> np.ndarray:
    if not mask.any():
        return np.zeros(mask.shape, np.uint32)
    sampling = np.ones(mask.ndim) if spacing is None else np.asarray(spacing)
    tightened = intensity is not None and options.tighten > 0
    objects, depth, radius = _split_pass(mask, intensity, options, sampling, BRIGHT_HOLE if tightened else 0.0)
    if tightened and objects.max() > 0:
        tight = _tighten(objects, intensity, radius, sampling, options.tighten)
        if tight.any():
            objects, depth, radius = _split_pass(tight, intensity, options, sampling, 0.0)
    if intensity is not None and options.refine_boundaries and objects.max() > 0:
        objects = _snap_to_edges(objects, intensity, radius, sampling, depth)
    if options.fill_holes:
        objects = _fill_enclosed_holes(objects)
    if options.split_touching:
        objects = _merge_convex_pairs(objects)
    return objects.astype(np.uint32)


def _typical_radius(mask: np.ndarray, distance: np.ndarray, components: np.ndarray) -> float:
    """(d + 1) times the mean distance to the background, at most ``RADIUS_CAP`` times the components' median depth.

    The first is r for discs (balls) of radius r; over a clump of touching objects without necks
    it grows with the clump. The deepest point of an isolated object lies about r from its
    border, so the median over the components (those of at least ``MIN_SIZE_FRACTION`` of a
    disc of the first estimate) bounds the estimate where a few clumps would inflate it.
    ``components``: the labelled ``mask`` (face connectivity).
    """
    distances = distance[mask]
    radius = float((mask.ndim + 1) * distances.mean())
    sizes = np.bincount(components.ravel())
    ball = _ball(radius, mask.ndim)
    counted = np.flatnonzero(sizes >= MIN_SIZE_FRACTION * ball)
    counted = counted[counted > 0]
    if counted.size:
        depth = np.zeros(sizes.size, np.float32)
        np.maximum.at(depth, components[mask], distances)
        radius = min(radius, RADIUS_CAP * float(np.median(depth[counted])))
    return radius


def _ball(radius: float, ndim: int) -> float:
    """Area of a disc (2D) or volume of a ball (3D) of ``radius``."""
    return np.pi * radius**2 if ndim == 2 else 4 / 3 * np.pi * radius**3


def _merge_convex_pairs(objects: np.ndarray) -> np.ndarray:
    """Merge two touching objects whose union is convex and small: a nucleus that the watershed cut in two.

    Candidates are the face-adjacent pairs whose union has a solidity (its area over its convex
    hull's) of at least ``MERGE_SOLIDITY`` and covers at most ``MERGE_AREA`` times the median
    object size, or, in a group of at most ``MERGE_PIECES`` touching objects, of at least
    ``MERGE_SOLIDITY_WIDE`` and at most ``MERGE_AREA`` times the median group (where nuclei lie
    apart, a group is one nucleus, however many pieces it was cut into; the bound on the pieces
    keeps the clumps of dense fields out). The most convex unions merge first, each object once
    per round, for up to ``MERGE_ROUNDS`` rounds (a nucleus cut in three comes back whole).
    """
    from scipy import ndimage
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = int(objects.max())
    first, second = _touching_pairs(objects)
    if not first.size:
        return objects
    pixels = np.bincount(objects.ravel(), minlength=n + 1)
    group = connected_components(coo_matrix((np.ones(first.size), (first, second)), (n + 1, n + 1)), directed=False)[1]
    present = np.flatnonzero(pixels[1:]) + 1
    group_cap = MERGE_AREA * np.median(np.bincount(group[present], pixels[present])[np.unique(group[present])])
    bounds = np.zeros((n + 1, objects.ndim, 2), np.int64)  # per id and axis: start, stop (0, 0 when absent)
    for index, box in enumerate(ndimage.find_objects(objects), start=1):
        if box is not None:
            bounds[index] = [(s.start, s.stop) for s in box]
    low, high = bounds[..., 0], bounds[..., 1]
    owner = np.arange(n + 1, dtype=objects.dtype)  # each id -> the object it now belongs to
    for _ in range(MERGE_ROUNDS):
        into = _merge_round(objects, owner, (first, second), pixels, group, group_cap, (low, high))
        if into is None:
            break
        owner = into[owner]
    return _sequential(owner[objects]) if (owner != np.arange(n + 1)).any() else objects


def _merge_round(
    objects: np.ndarray,
    owner: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray],
    pixels: np.ndarray,
    group: np.ndarray,
    group_cap: float,
    bounds: tuple[np.ndarray, np.ndarray],
) -> np.ndarray | None:
    """One round of :func:`_merge_convex_pairs`: per object, the one it merges into (None when no pair merges).

    ``owner`` maps the ids of ``objects`` to the objects of the earlier rounds; ``pairs`` are the
    ids' touching pairs, ``pixels`` their sizes, ``group`` their groups of touching objects (the
    wider merge's cap ``group_cap``) and ``bounds`` their bounding boxes (low, high corners).
    """
    from skimage.measure import regionprops

    a, b = owner[pairs[0]], owner[pairs[1]]
    keys = np.unique(np.minimum(a, b).astype(np.int64) * owner.size + np.maximum(a, b))
    first, second = keys // owner.size, keys % owner.size
    distinct = first != second  # the pieces of one object no longer pair
    first, second = first[distinct], second[distinct]
    sizes = np.bincount(owner, pixels, minlength=owner.size)
    present = np.flatnonzero(sizes[1:]) + 1
    pieces = np.bincount(group[present], minlength=owner.size)  # objects per group
    union = sizes[first] + sizes[second]
    wide = (pieces[group[first]] <= MERGE_PIECES) & (union <= group_cap)
    needed = np.where(
        union <= MERGE_AREA * np.median(sizes[present]), MERGE_SOLIDITY, np.where(wide, MERGE_SOLIDITY_WIDE, np.inf)
    )
    candidate = np.isfinite(needed)
    first, second, needed = first[candidate], second[candidate], needed[candidate]
    if not first.size:
        return None
    low, high = bounds
    solidity = np.empty(first.size)
    for k, (p, q) in enumerate(zip(first, second, strict=True)):
        members = (owner == p) | (owner == q)
        box = tuple(slice(int(lo), int(hi)) for lo, hi in zip(low[members].min(0), high[members].max(0), strict=True))
        crop = owner[objects[box]]
        solidity[k] = regionprops(((crop == p) | (crop == q)).view(np.uint8))[0].solidity
    into = np.arange(owner.size, dtype=owner.dtype)
    merged = np.zeros(owner.size, bool)
    for k in np.argsort(-solidity, kind="stable"):
        p, q = first[k], second[k]
        if solidity[k] < MERGE_SOLIDITY:
            break
        if solidity[k] >= needed[k] and not (merged[p] or merged[q]):
            into[q], merged[p], merged[q] = p, True, True
    return into if merged.any() else None


def _touching_pairs(objects: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (a, b), a < b, of objects that share a face, once each."""
    n = int(objects.max()) + 1
    keys = []
    for axis in range(objects.ndim):
        low, high = _shifted(axis)
        here, there = objects[low], objects[high]
        differ = (here != there) & (here > 0) & (there > 0)
        here, there = here[differ].astype(np.int64), there[differ].astype(np.int64)
        keys.append(np.minimum(here, there) * n + np.maximum(here, there))
    pairs = np.unique(np.concatenate(keys))
    return pairs // n, pairs % n


def _split_pass(
    mask: np.ndarray, intensity: np.ndarray | None, options: _Options, sampling: np.ndarray, bright_hole: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Objects of ``mask`` (steps 1-3 of the module notes), the cleaned mask's distance transform, the radius.

    ``bright_hole``: with ``fill_holes`` and ``intensity``, the holes that are not dark are filled
    up to this fraction of the area (volume) of a disc (ball) of the typical radius (0: none).
    """
    from scipy import ndimage

    voxel = float(np.prod(sampling))
    exact = _distance(mask, sampling)
    distance = exact.astype(np.float32)
    components = None if options.radius else ndimage.label(mask)[0]  # labelled here only to measure the radius
    radius = options.radius or _typical_radius(mask, distance, components)
    ball = _ball(radius, mask.ndim)
    if options.fill_holes:
        filled = _fill_small_holes(
            mask, SPECK_HOLE * ball / voxel, intensity if bright_hole else None, bright_hole * ball / voxel
        )
        if filled is not mask:
            mask, exact = filled, _distance(filled, sampling)
            distance = exact.astype(np.float32)
            components = None
    if components is None:
        components = ndimage.label(mask)[0]
    min_size = MIN_SIZE_FRACTION * ball if options.min_size is None else options.min_size
    components = _drop_small(components, min_size / voxel)
    if options.split_touching and components.max() > 0:
        distance[components == 0] = 0
        objects = _split_components(components, distance, intensity, radius, sampling, min_size / voxel)
    else:
        objects = components
    return objects, exact, radius


def _distance(mask: np.ndarray, sampling: np.ndarray) -> np.ndarray:
    """Euclidean distance to the background; the first and last slices of a stack border background."""
    if mask.ndim == 2:
        return _edt(mask, sampling)
    return _edt(np.pad(mask, ((1, 1), (0, 0), (0, 0))), sampling)[1:-1]


def _edt(mask: np.ndarray, sampling: np.ndarray) -> np.ndarray:
    """float32 Euclidean distance of every pixel of ``mask`` to the nearest pixel outside it.

    As ``scipy.ndimage.distance_transform_edt`` (beyond the array's border is not background),
    with the ``edt`` package: the same values, three times faster. A mask without background
    has no distance; there the array's border is taken as the background.
    """
    import edt

    sampling = tuple(float(s) for s in sampling)
    mask = np.ascontiguousarray(mask)
    return edt.edt(mask, anisotropy=sampling, black_border=bool(mask.all()), parallel=1)


def _tighten(
    objects: np.ndarray, intensity: np.ndarray, radius: float, sampling: np.ndarray, fraction: float
) -> np.ndarray:
    """The pixels of ``objects`` brighter than ``fraction`` of the way from the local background to the object's median.

    Holes this leaves inside one object are filled back (a nucleus's dim texture stays).
    The local background is the mean intensity outside the objects, weighted by a Gaussian of
    ``BACKGROUND_REACH * radius`` (a normalised convolution); the intensity is smoothed over
    ``TIGHTEN_SMOOTHING * radius`` (at least a pixel). An object that is bright matter on dim
    matter (:func:`_bright_on_dim`) keeps at most its pixels above its Otsu threshold.
    """
    from scipy import ndimage

    inside = objects > 0
    smooth = ndimage.gaussian_filter(intensity, np.maximum(1.0, TIGHTEN_SMOOTHING * radius / sampling), truncate=3.0)
    fallback = float(smooth[~inside].mean()) if not inside.all() else 0.0
    background = _local_mean(smooth, ~inside, BACKGROUND_REACH * radius / sampling, fallback)
    n = int(objects.max())
    ids, values = objects[inside], smooth[inside]
    median = _medians(values, ids, n)
    bright_part = _bright_on_dim(values, ids, background[inside], n)
    threshold = np.maximum(background + fraction * (median[objects] - background), bright_part[objects])
    kept = inside & (smooth > threshold)
    return _fill_enclosed_holes(np.where(kept, objects, 0)) > 0  # dim texture inside a nucleus stays


def _bright_on_dim(values: np.ndarray, ids: np.ndarray, background: np.ndarray, n: int) -> np.ndarray:
    """Per object 0..n: its Otsu threshold where it is bright matter lying on dim matter, else -inf.

    ``values``, ``ids`` and ``background``: the smoothed intensity, the object id and the local
    background intensity of every object pixel. An object is bright matter on dim matter where
    the mean of its pixels at or below its Otsu threshold lies less than ``DIM_SHARE`` of the
    way from the local background to the mean of those above it: nuclei in the tissue around
    them that a class took in, not a nucleus's dim texture, which stands out from the background
    by about half its bright texture's contrast (median 0.55 over the annotated 40x DAPI tissue
    nuclei, 95 % of them above 0.35). The threshold is scikit-image's ``threshold_otsu`` of the
    object's values in ``OTSU_BINS`` bins from their minimum to their maximum (all objects'
    histograms in one count).
    """
    from skimage.filters import threshold_otsu

    ids = ids.astype(np.int64)
    counts = np.bincount(ids, minlength=n + 1)
    present = np.flatnonzero(counts)
    ordered = values[np.argsort(ids, kind="stable")]  # by object (ndimage.minimum is ~9x slower here)
    starts = np.cumsum(counts)[present] - counts[present]
    low = np.full(n + 1, np.inf, np.float32)
    high = np.full(n + 1, -np.inf, np.float32)
    low[present] = np.minimum.reduceat(ordered, starts)
    high[present] = np.maximum.reduceat(ordered, starts)
    width = np.where(high > low, high - low, 1.0)
    bins = np.minimum(((values - low[ids]) / width[ids] * OTSU_BINS).astype(np.int64), OTSU_BINS - 1)
    histograms = np.bincount(ids * OTSU_BINS + bins, minlength=(n + 1) * OTSU_BINS).reshape(n + 1, OTSU_BINS)
    centres = (np.arange(OTSU_BINS) + 0.5) / OTSU_BINS
    otsu = np.full(n + 1, np.inf, np.float32)
    for index in present[high[present] > low[present]]:
        otsu[index] = threshold_otsu(hist=(histograms[index], low[index] + centres * width[index]))
    upper = values > otsu[ids]
    dim = np.bincount(ids, np.where(upper, 0, values), n + 1) / np.maximum(1, np.bincount(ids, ~upper, n + 1))
    bright = np.bincount(ids, np.where(upper, values, 0), n + 1) / np.maximum(1, np.bincount(ids, upper, n + 1))
    local = np.bincount(ids, background, n + 1) / np.maximum(1, counts)
    out = np.full(n + 1, -np.inf, np.float32)
    chosen = np.isfinite(otsu) & (bright > local) & (dim - local < DIM_SHARE * (bright - local))
    out[chosen] = otsu[chosen]
    return out


def _local_mean(values: np.ndarray, where: np.ndarray, sigma: np.ndarray, fallback: float) -> np.ndarray:
    """Mean of ``values`` over ``where``, weighted by a Gaussian of ``sigma`` pixels per axis (normalised convolution).

    The convolution runs on a grid coarser by about ``sigma / 3`` per axis (block means) and is
    interpolated back bilinearly: the same local mean for a fraction of the work. Pixels with
    no ``where`` within reach get ``fallback``.
    """
    from scipy import ndimage
    from skimage.transform import downscale_local_mean

    step = tuple(int(s) for s in np.maximum(1, np.floor(sigma / 3)))
    weight = np.asarray(where, np.float32)
    coarse_weight = ndimage.gaussian_filter(downscale_local_mean(weight, step), sigma / step, truncate=3.0)
    coarse_total = ndimage.gaussian_filter(downscale_local_mean(values * weight, step), sigma / step, truncate=3.0)
    coarse = np.where(coarse_weight > 1e-3, coarse_total / np.maximum(coarse_weight, 1e-3), fallback)
    fine = ndimage.zoom(coarse.astype(np.float32), step, order=1, mode="nearest", grid_mode=True)
    return fine[tuple(slice(0, n) for n in values.shape)]


def _medians(values: np.ndarray, ids: np.ndarray, n: int) -> np.ndarray:
    """Median of ``values`` (in [0, 1]) per id 1..n (0 for absent ids), as ``scipy.ndimage.median`` gives it.

    One sort of ``id + value / 2`` orders the values by id, then by value.
    """
    ordered = np.sort(ids + values.astype(np.float64) / 2)
    ordered = 2 * (ordered - np.floor(ordered))
    counts = np.bincount(ids, minlength=n + 1)[1:]
    starts = np.cumsum(counts) - counts
    present = counts > 0
    low = ordered[(starts + (counts - 1) // 2)[present]]
    high = ordered[(starts + counts // 2)[present]]
    out = np.zeros(n + 1)
    out[1:][present] = (low + high) / 2
    return out


def _split_components(
    components: np.ndarray,
    distance: np.ndarray,
    intensity: np.ndarray | None,
    radius: float,
    sampling: np.ndarray,
    min_pixels: float,
) -> np.ndarray:
    """Seeded watershed of the smoothed distance transform (+ intensity) inside ``components``."""
    from scipy import ndimage

    relief = distance / radius
    if intensity is not None:
        relief += INTENSITY_WEIGHT * intensity
    surface = ndimage.gaussian_filter(relief, SMOOTHING * radius / sampling, truncate=3.0)  # one filter: it is linear
    markers = _seeds(surface, components, radius, sampling)
    objects = _flood(surface, markers, components)
    sizes = np.bincount(objects.ravel())
    small = _small_ids(sizes, min_pixels)
    if small.size:
        merge = np.isin(markers, small) & _has_other_seed(markers, components, small)
        if merge.any():  # flood again the components that lost a seed, the others keep their objects
            markers[merge] = 0
            again = np.zeros(int(components.max()) + 1, bool)
            again[components[merge]] = True
            redo = again[components]
            flooded = _flood(surface, np.where(redo, markers, 0), np.where(redo, components, 0))
            objects = np.where(redo, flooded, objects)
            sizes = np.bincount(objects.ravel())
            small = _small_ids(sizes, min_pixels)
        objects = np.where(np.isin(objects, small), 0, objects)
        sizes[small] = 0
    return _sequential(objects, sizes > 0)


def _flood(surface: np.ndarray, markers: np.ndarray, components: np.ndarray) -> np.ndarray:
    """The watershed of ``surface`` from ``markers`` inside ``components``.

    A component holding a single seed is that seed's object, so only the components with
    several seeds are flooded, each on its own bounding box (components never exchange pixels:
    the same result, less work).
    """
    from scipy import ndimage

    seeded = markers > 0
    pairs = np.unique(np.stack([components[seeded].astype(np.int64), markers[seeded]]), axis=1)
    count = np.bincount(pairs[0], minlength=int(components.max()) + 1)
    single = count[pairs[0]] == 1
    owner = np.zeros(count.size, markers.dtype)
    owner[pairs[0][single]] = pairs[1][single]
    objects = owner[components]
    crowded = np.flatnonzero(count[1:] > 1) + 1
    if crowded.size:
        boxes = ndimage.find_objects(components)
        for component in crowded:
            box = boxes[component - 1]
            inside = components[box] == component
            flooded = _watershed(surface[box], np.where(inside, markers[box], 0), inside)
            objects[box][inside] = flooded[inside]
    return objects


def _snap_to_edges(
    objects: np.ndarray, intensity: np.ndarray, radius: float, sampling: np.ndarray, depth: np.ndarray
) -> np.ndarray:
    """Move object boundaries to the strongest intensity edge near them (marker-controlled watershed).

    Seeds: each object's core (deeper than ``CORE * radius``, or the whole object when thinner);
    background seed: everything farther than ``GROW * radius`` from every object; the flooded
    relief is the gradient magnitude of the image smoothed over ``EDGE_SMOOTHING * radius``.
    Only the band within ``GROW * radius`` of the objects can change, so the work is done on the
    box around it (with a margin for the smoothing) and the flood is confined to the band.
    ``depth``: the distance transform of the mask the objects were split from.
    """
    from scipy import ndimage
    from skimage.filters import sobel

    sigma = np.maximum(1.0, EDGE_SMOOTHING * radius / sampling)
    reach = np.ceil(GROW * radius / sampling).astype(int) + 1
    margin = reach + np.ceil(3.0 * sigma).astype(int) + 2  # the smoothing and the gradient see the same pixels
    box = _box(objects > 0, margin)
    crop, image = objects[box], intensity[box]
    mask = crop > 0
    markers = np.where(depth[box] >= CORE * radius, crop, 0).astype(np.int64, copy=False)
    has_core = np.zeros(int(objects.max()) + 1, bool)
    has_core[markers[markers > 0]] = True
    thin = mask & ~has_core[crop]
    markers[thin] = crop[thin]
    background = int(objects.max()) + 1
    far = _edt(~mask, sampling) > GROW * radius
    markers[far] = background
    # Flood only the unseeded pixels and the seeds bordering them (the same result, far less work).
    frontier = _dilate_faces(markers == 0)
    relief = sobel(ndimage.gaussian_filter(image, sigma, truncate=3.0))
    snapped = np.where(frontier, _watershed(-relief, markers, frontier), markers)
    snapped[snapped == background] = 0
    out = np.zeros_like(objects)
    out[box] = snapped
    return out


def _box(mask: np.ndarray, margin: np.ndarray) -> tuple[slice, ...]:
    """The bounding box of ``mask``, ``margin`` pixels wider per axis (clipped to the array)."""
    where = [
        np.flatnonzero(np.any(mask, axis=tuple(a for a in range(mask.ndim) if a != axis))) for axis in range(mask.ndim)
    ]
    return tuple(
        slice(max(0, int(w[0]) - int(m)), min(n, int(w[-1]) + int(m) + 1))
        for w, m, n in zip(where, margin, mask.shape, strict=True)
    )


def _fill_small_holes(
    mask: np.ndarray, max_hole: float, intensity: np.ndarray | None = None, max_bright_hole: float = 0.0
) -> np.ndarray:
    """``mask`` with its holes of at most ``max_hole`` pixels filled (``mask`` itself when none is).

    With ``intensity``, also its holes of at most ``max_bright_hole`` pixels whose mean intensity
    is at least ``HOLE_CONTRAST`` of the way from the mean outside ``mask`` and its holes to the
    mean of ``mask``.
    """
    from scipy import ndimage

    background, n = ndimage.label(~mask)
    hole = _enclosed(background, n)
    if not hole.any():
        return mask
    sizes = np.bincount(background.ravel(), minlength=n + 1)
    filled = hole & (sizes <= max_hole)
    outside = None if intensity is None else ~mask & ~hole[background]
    if outside is not None and outside.any():
        low, high = float(intensity[outside].mean()), float(intensity[mask].mean())
        means = np.bincount(background.ravel(), intensity.ravel(), n + 1) / np.maximum(1, sizes)
        filled |= hole & (sizes <= max_bright_hole) & (means >= low + HOLE_CONTRAST * (high - low))
    return mask | filled[background] if filled.any() else mask


def _holes(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """The holes of ``mask`` labelled 1..n (in raster order), and n.

    Holes are the face-connected pieces of the background that do not reach the array's border,
    as ``scipy.ndimage.binary_fill_holes`` finds them, from one labelling of the background.
    """
    from scipy import ndimage

    background, n = ndimage.label(~mask)
    keep = _enclosed(background, n)
    sequential = np.zeros(n + 1, background.dtype)
    sequential[keep] = np.arange(1, int(keep.sum()) + 1)
    return sequential[background], int(keep.sum())


def _enclosed(background: np.ndarray, n: int) -> np.ndarray:
    """Per label 0..n of the labelled ``background``: whether it is a hole (not 0, not reaching the border)."""
    keep = np.ones(n + 1, bool)
    keep[0] = False
    for axis in range(background.ndim):
        keep[np.take(background, 0, axis=axis)] = False
        keep[np.take(background, -1, axis=axis)] = False
    return keep


def _fill_enclosed_holes(objects: np.ndarray) -> np.ndarray:
    """Fill every hole whose whole border belongs to one object (gaps between objects stay)."""
    from scipy import ndimage

    hole_labels, n = _holes(objects > 0)
    if not n:
        return objects
    holes = hole_labels > 0
    ring = _neighbourhood_max(hole_labels)
    on_ring = (ring > 0) & (hole_labels == 0)
    owners, holes_of = objects[on_ring], ring[on_ring]
    index = np.arange(1, n + 1)
    low = np.asarray(ndimage.minimum(owners, holes_of, index))
    high = np.asarray(ndimage.maximum(owners, holes_of, index))
    owner = np.concatenate([[0], np.where(low == high, high, 0)]).astype(objects.dtype)
    return np.where(holes, owner[hole_labels], objects)


def _dilate_faces(mask: np.ndarray) -> np.ndarray:
    """``mask`` grown by one pixel along each axis: ``scipy.ndimage.binary_dilation(mask)`` in slice operations."""
    out = mask.copy()
    for axis in range(mask.ndim):
        low, high = _shifted(axis)
        out[low] |= mask[high]
        out[high] |= mask[low]
    return out


def _neighbourhood_max(labels: np.ndarray) -> np.ndarray:
    """The maximum over each pixel's 3 x 3 (x 3) neighbourhood within the array: ``grey_dilation(labels, size=3)``.

    One running maximum per axis, in slice operations (several times faster than the generic filter).
    """
    out = labels
    for axis in range(labels.ndim):
        low, high = _shifted(axis)
        grown = out.copy()
        np.maximum(grown[low], out[high], out=grown[low])
        np.maximum(grown[high], out[low], out=grown[high])
        out = grown
    return out


def _shifted(axis: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index of all but the last, and of all but the first, pixels along ``axis``: a pixel and its next neighbour."""
    return _along(axis, 0, -1), _along(axis, 1, None)


def _drop_small(components: np.ndarray, min_pixels: float) -> np.ndarray:
    return _sequential(components, np.bincount(components.ravel()) >= min_pixels)


def _sequential(labels: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """``labels`` renumbered 1..n in the order of their ids, 0 staying 0 (``relabel_sequential`` in one lookup).

    ``keep``: per id 0..max, whether it stays (the others become 0); default every id present.
    """
    if keep is None:
        keep = np.bincount(labels.ravel()) > 0
    keep[0] = False
    return (np.cumsum(keep) * keep).astype(labels.dtype)[labels]


def _seeds(surface: np.ndarray, components: np.ndarray, radius: float, sampling: np.ndarray) -> np.ndarray:
    """Labelled seeds: maxima of ``surface`` at least ``MIN_DISTANCE * radius`` apart; one per component at least."""
    from scipy import ndimage

    half = np.maximum(1, np.round(MIN_DISTANCE * radius / sampling).astype(int))
    occupied = components > 0
    inside = np.where(occupied, surface, -np.inf)  # as peak_local_max(labels=components): no peak outside
    peak_mask = (inside == ndimage.maximum_filter(inside, size=tuple(2 * half + 1), mode="nearest")) & occupied
    markers = ndimage.label(peak_mask, np.ones((3,) * peak_mask.ndim))[0].astype(np.int64)  # a plateau is one seed
    seeded = np.zeros(components.max() + 1, bool)
    seeded[components[markers > 0]] = True
    seeded[0] = True
    if not seeded.all():
        unseeded = ~seeded[components]
        markers[unseeded] = components[unseeded] + markers.max()
    return markers


def _along(axis: int, start: int, stop: int | None) -> tuple[slice, ...]:
    """Index of the pixels ``start:stop`` along ``axis`` (all along the axes before it)."""
    return (slice(None),) * axis + (slice(start, stop),)


def _watershed(surface: np.ndarray, markers: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    from skimage.segmentation import watershed

    return watershed(-surface, markers, mask=mask)


def _small_ids(sizes: np.ndarray, min_pixels: float) -> np.ndarray:
    """The ids (not 0) of the objects of ``sizes`` (pixels per id) smaller than ``min_pixels``."""
    small = sizes < min_pixels
    small[0] = False
    return np.flatnonzero(small)


def _has_other_seed(markers: np.ndarray, components: np.ndarray, small: np.ndarray) -> np.ndarray:
    """Per pixel: whether its component keeps a seed that is not one of ``small``."""
    kept = (markers > 0) & ~np.isin(markers, small)
    has = np.zeros(components.max() + 1, bool)
    has[components[kept]] = True
    return has[components]


_AXES = {2: ("y", "x"), 3: ("z", "y", "x")}


def measure_objects(
    instances: np.ndarray,
    image: np.ndarray | None = None,
    *,
    labels: np.ndarray | None = None,
    spacing: Sequence[float] | None = None,
    unit: str | None = None,
) -> pd.DataFrame:
    """One row per object: id, class, size, position, shape and intensity (scikit-image ``regionprops``).

    Parameters
    ----------
    instances : numpy.ndarray
        Integer (H, W) or (N, H, W) instance labels, 0 = background (e.g. from
        :func:`split_instances`). In a stack whose objects each lie in one slice (``per_slice``
        objects), they are measured as 2D objects of their slice; otherwise as 3D objects.
    image : numpy.ndarray, optional
        Intensities, the shape of ``instances`` with an optional trailing channel axis.
    labels : numpy.ndarray, optional
        The class label image the objects came from; adds the ``class`` column (the most
        frequent class under each object).
    spacing : sequence of float, optional
        Pixel size per axis (e.g. a napari layer's ``scale``): areas, volumes, lengths and
        centroids are then in physical units.
    unit : str, optional
        Name of the physical unit, used in the column names (default ``"px"`` without
        ``spacing``, ``"unit"`` with it).

    Returns
    -------
    pandas.DataFrame
        Columns, with ``U`` the unit: ``label``; ``class`` (with ``labels``); ``slice`` (per-slice
        objects of a stack); ``area_U2`` (2D) or ``volume_U3`` (3D); ``num_pixels``;
        ``centroid_{z,y,x}_U``; ``bbox_{min,max}_{z,y,x}`` (pixel indices, max exclusive);
        ``equivalent_diameter_U``; ``eccentricity`` (2D); ``solidity``; with ``image``,
        ``intensity_{mean,max,sum}`` per channel (suffix ``_ch0``, ``_ch1``, ... for a
        multichannel image). ``DataFrame.attrs`` records ``spacing`` and ``unit``.

    Raises
    ------
    ValueError
        For instances that are not an integer 2D image or 3D stack, or an ``image``, ``labels``
        or ``spacing`` that does not fit them.
    """
    import pandas as pd

    instances, image, spacing = _check(instances, image, spacing, None, None)
    if labels is not None and np.shape(labels) != instances.shape:
        raise ValueError(f"labels of shape {np.shape(labels)} must have the shape of instances {instances.shape}")
    if spacing is not None and len(spacing) != instances.ndim:
        raise ValueError(f"spacing={spacing} must give one pixel size per axis of instances {instances.shape}")
    unit = unit or ("px" if spacing is None else "unit")
    if instances.ndim == 3 and _flat_objects(instances):
        rows = [
            _measure(instances[index], None if image is None else image[index], spacing and spacing[1:], unit).assign(
                slice=index
            )
            for index in range(instances.shape[0])
        ]
        table = pd.concat(rows, ignore_index=True).sort_values("label", ignore_index=True)
        table.insert(1, "slice", table.pop("slice"))
    else:
        table = _measure(instances, image, spacing, unit)
    if labels is not None:
        table.insert(1, "class", _object_classes(instances, np.asarray(labels), table["label"].to_numpy()))
    table.attrs.update(spacing=spacing, unit=unit)
    return table


def _flat_objects(instances: np.ndarray) -> bool:
    """Whether every object of a stack lies within one slice."""
    ids = [np.unique(plane) for plane in instances]
    everything = np.concatenate(ids)
    everything = everything[everything > 0]
    return bool(everything.size) and np.unique(everything).size == everything.size


def _measure(instances: np.ndarray, image: np.ndarray | None, spacing: tuple[float, ...] | None, unit: str):
    import pandas as pd
    from skimage.measure import regionprops_table

    ndim = instances.ndim
    properties = ["label", "area", "num_pixels", "centroid", "bbox", "equivalent_diameter_area", "solidity"]
    if image is not None:
        properties += ["intensity_mean", "intensity_max"]
    if not instances.any():
        return pd.DataFrame(columns=_column_names(properties, ndim, image, unit))
    table = regionprops_table(
        instances,
        intensity_image=None if image is None else _finite_float64(image),
        properties=properties,
        spacing=spacing,
        extra_properties=[_eccentricity(spacing)] if ndim == 2 else (),
    )
    axes = _AXES[ndim]
    size = f"area_{unit}2" if ndim == 2 else f"volume_{unit}3"
    renamed = {"label": "label", "area": size, "num_pixels": "num_pixels"}
    renamed |= {f"centroid-{i}": f"centroid_{a}_{unit}" for i, a in enumerate(axes)}
    renamed |= {f"bbox-{i}": f"bbox_min_{a}" for i, a in enumerate(axes)}
    renamed |= {f"bbox-{i + ndim}": f"bbox_max_{a}" for i, a in enumerate(axes)}
    renamed |= {"equivalent_diameter_area": f"equivalent_diameter_{unit}", "solidity": "solidity"}
    renamed |= {"second_moment_eccentricity": "eccentricity"}
    out = pd.DataFrame({new: table[old] for old, new in renamed.items() if old in table})
    if image is not None:
        channels = 1 if image.ndim == ndim else image.shape[-1]
        for c in range(channels):
            suffix, key = ("", "") if image.ndim == ndim else (f"_ch{c}", f"-{c}")
            out[f"intensity_mean{suffix}"] = table[f"intensity_mean{key}"]
            out[f"intensity_max{suffix}"] = table[f"intensity_max{key}"]
            out[f"intensity_sum{suffix}"] = table[f"intensity_mean{key}"] * table["num_pixels"]
    return out


def _finite_float64(image: np.ndarray) -> np.ndarray:
    """``image`` as float64 with NaN -> 0 and infinities -> the largest finite values (``numpy.nan_to_num``).

    ``nan_to_num`` runs only where it changes something: its several passes cost more than the conversion.
    """
    data = np.asarray(image, np.float64)
    return data if np.isfinite(data).all() else np.nan_to_num(data)


def _eccentricity(spacing: tuple[float, ...] | None):
    """regionprops' ``eccentricity`` (of the ellipse with the region's second moments), from the covariance of
    its pixel coordinates: the same value without regionprops' general moments of order 3 (a tenth of the time).
    """
    scale = np.ones(2) if spacing is None else np.asarray(spacing, float)

    def second_moment_eccentricity(region_mask: np.ndarray) -> float:
        coords = np.argwhere(region_mask) * scale
        if len(coords) < 2:
            return 0.0
        centred = coords - coords.mean(axis=0)
        small, large = np.linalg.eigvalsh(centred.T @ centred / len(coords))
        return float(np.sqrt(1 - small / large)) if large > 0 else 0.0

    return second_moment_eccentricity


def _column_names(properties: list[str], ndim: int, image: np.ndarray | None, unit: str) -> list[str]:
    probe = np.zeros((3,) * ndim, np.uint8)
    probe[(1,) * ndim] = 1
    probe_image = None if image is None else np.zeros(probe.shape + image.shape[ndim:], np.float64)
    return list(_measure(probe, probe_image, None, unit).columns)


def _object_classes(instances: np.ndarray, labels: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """The most frequent class under each object (in the order of ``ids``)."""
    inside = instances > 0
    values, classes = np.unique(labels[inside], return_inverse=True)
    pairs = np.bincount(instances[inside].astype(np.int64) * values.size + classes.ravel())
    pairs = np.pad(pairs, (0, (int(instances.max()) + 1) * values.size - pairs.size))
    return values[pairs.reshape(-1, values.size).argmax(axis=1)][ids.astype(np.int64)]
