"""Label clean-up after clustering."""

from __future__ import annotations

import numpy as np


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
