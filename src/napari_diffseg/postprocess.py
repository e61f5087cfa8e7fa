"""Label clean-up after clustering: small regions, and fragment clusters (speckle, boundary bands)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# A cluster more than this share of whose 4-neighbour pairs cross into other clusters is a
# fragment (a region thinner than about 1 / FRAGMENT_BOUNDARY ~ 7 pixels; see find_fragments).
FRAGMENT_BOUNDARY = 0.15


def label_dtype(max_id: int) -> np.dtype:
    """uint16 when ids up to ``max_id`` fit in it, else uint32."""
    return np.dtype(np.uint16 if max_id <= np.iinfo(np.uint16).max else np.uint32)


def merge_small_regions(labels: np.ndarray, min_size: int) -> np.ndarray:
    """Merge 4-connected regions smaller than ``min_size`` pixels into their nearest neighbours.

    Parameters
    ----------
    labels : numpy.ndarray
        Positive integer (H, W) label image (0 is not expected).
    min_size : int
        Regions with fewer pixels are relabelled with the label of the nearest pixel
        outside every small region. 0 or 1 returns ``labels`` unchanged.

    Returns
    -------
    numpy.ndarray
        Labels of the same dtype; never introduces new ids.
    """
    if min_size <= 1:
        return labels
    from scipy import ndimage
    from skimage.measure import label as connected_components

    components = connected_components(labels, background=0, connectivity=1)
    sizes = np.bincount(components.ravel())
    small = sizes[components] < min_size
    if not small.any() or small.all():
        return labels
    _, (rows, cols) = ndimage.distance_transform_edt(small, return_indices=True)
    return labels[rows, cols]


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
    from scipy import ndimage

    mask = np.isin(labels, fragments)
    if not mask.any() or mask.all():
        return labels
    nearest = ndimage.distance_transform_cdt(mask, metric="taxicab", return_distances=False, return_indices=True)
    return labels[tuple(nearest)]
