"""Label refinement with image regions: the superpixel majority vote.

The ICASSP 2018 predecessor of differentiable feature clustering trained its network towards
the majority label of each SLIC superpixel. Here the vote is applied once to the final labels:
every region of a fine over-segmentation of the image (scikit-image's graph-based
``felzenszwalb`` on the network's input) takes the label most of its pixels have. Cluster
boundaries then follow image edges, and speckle inside a region disappears. A vote on large
regions leaves clusters that join distinct objects of similar colour; :func:`split_by_regions`
then cuts every cluster along the borders of a second, coarser over-segmentation, so that each
(cluster, region) pair is a segment of its own.

Pure numpy / scikit-image.
"""

from __future__ import annotations

import numpy as np

from .postprocess import label_dtype

_TILE = 1024  # regions are found tile by tile, which bounds the memory of large images
SPLIT_MIN_SIZE = 50  # smallest region (pixels) of the coarser over-segmentation labels are split along


def image_regions(image: np.ndarray, scale: float, *, sigma: float = 0.8, min_size: int = 20) -> np.ndarray:
    """A fine over-segmentation of ``image`` by scikit-image's graph-based method.

    Images larger than 1024 pixels on a side are segmented in 1024x1024 tiles (no region
    crosses a tile border), which keeps the memory of the graph bounded.

    Parameters
    ----------
    image : numpy.ndarray
        float (C, H, W) image in [0, 1], as the network sees it.
    scale : float
        Felzenszwalb's scale: larger values give larger regions.
    sigma : float
        Gaussian pre-smoothing in pixels.
    min_size : int
        Smallest region in pixels.

    Returns
    -------
    numpy.ndarray
        int64 (H, W) region ids 0..R-1.
    """
    from skimage.segmentation import felzenszwalb

    height, width = image.shape[-2:]
    regions = np.empty((height, width), np.int64)
    offset = 0
    for y in range(0, height, _TILE):
        for x in range(0, width, _TILE):
            tile = np.moveaxis(np.asarray(image[:, y : y + _TILE, x : x + _TILE], dtype=np.float64), 0, -1)
            found = felzenszwalb(tile, scale=scale, sigma=sigma, min_size=min_size, channel_axis=-1)
            regions[y : y + _TILE, x : x + _TILE] = found + offset
            offset += int(found.max()) + 1
    return regions


def majority_vote(labels: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Give every region the label most of its pixels have (ties: the smallest label).

    Parameters
    ----------
    labels : numpy.ndarray
        Non-negative integer (H, W) labels.
    regions : numpy.ndarray
        Non-negative integer (H, W) region ids of the same shape.

    Returns
    -------
    numpy.ndarray
        Labels of ``labels``' dtype; never introduces a new label.
    """
    if labels.shape != regions.shape:
        raise ValueError(f"labels {labels.shape} and regions {regions.shape} differ in shape")
    flat_labels = labels.astype(np.int64).ravel()
    flat_regions = regions.astype(np.int64).ravel()
    n_labels = int(flat_labels.max(initial=0)) + 1
    n_regions = int(flat_regions.max(initial=0)) + 1
    counts = np.bincount(flat_regions * n_labels + flat_labels, minlength=n_regions * n_labels)
    winner = counts.reshape(n_regions, n_labels).argmax(1)
    return winner[regions].astype(labels.dtype)


def split_by_regions(labels: np.ndarray, regions: np.ndarray) -> np.ndarray:
    """Cut every label along region borders: each (label, region) pair becomes a label of its own.

    The largest piece of every label keeps its id, so that most pixels keep the ids the
    network's clusters have elsewhere (e.g. in :meth:`~napari_diffseg.Segmenter.predict`);
    the other pieces get new ids above the largest one, in the order of their (label,
    region) values.

    Parameters
    ----------
    labels : numpy.ndarray
        Non-negative integer (H, W) labels.
    regions : numpy.ndarray
        Non-negative integer (H, W) region ids of the same shape.

    Returns
    -------
    numpy.ndarray
        (H, W) labels, uint16 (uint32 when the ids do not fit in it).
    """
    if labels.shape != regions.shape:
        raise ValueError(f"labels {labels.shape} and regions {regions.shape} differ in shape")
    n_regions = int(regions.max(initial=0)) + 1
    pairs, inverse, counts = np.unique(
        labels.astype(np.int64) * n_regions + regions.astype(np.int64), return_inverse=True, return_counts=True
    )
    owner = pairs // n_regions
    largest = np.zeros(pairs.size, bool)
    by_size = np.lexsort((-counts, owner))  # per label, its largest piece first
    first = np.ones(pairs.size, bool)
    first[1:] = owner[by_size][1:] != owner[by_size][:-1]
    largest[by_size[first]] = True
    ids = owner.copy()
    start = int(owner.max(initial=0)) + 1
    ids[~largest] = np.arange(start, start + int((~largest).sum()))
    return ids[inverse.reshape(labels.shape)].astype(label_dtype(int(ids.max(initial=0))))


def refine_labels(labels: np.ndarray, image: np.ndarray, *, region_scale: float, split_scale: float) -> np.ndarray:
    """Unsupervised labels after the region vote (``region_scale``) and the split (``split_scale``).

    Parameters
    ----------
    labels : numpy.ndarray
        Non-negative integer (H, W) labels.
    image : numpy.ndarray
        float (C, H, W) image the regions are found in (the network's input).
    region_scale, split_scale : float
        Felzenszwalb scales of the regions that vote (:func:`majority_vote`) and of those the
        labels are split along (:func:`split_by_regions`, regions of at least
        ``SPLIT_MIN_SIZE`` pixels); 0 skips that step.

    Returns
    -------
    numpy.ndarray
        The refined labels (``labels`` itself when both scales are 0).
    """
    if region_scale > 0:
        labels = majority_vote(labels, image_regions(image, region_scale))
    if split_scale > 0:
        labels = split_by_regions(labels, image_regions(image, split_scale, min_size=SPLIT_MIN_SIZE))
    return labels
