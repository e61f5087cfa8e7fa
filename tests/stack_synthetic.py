"""Synthetic stacks with known truth for the stack tests, and the consistency metric."""

from __future__ import annotations

import numpy as np

QUICK = {"device": "cpu", "threads": 1, "max_iter": 20}  # fast runs for tests not about quality


def moving_objects(
    n_slices: int = 8, size: int = 48, *, noise: float = 0.05, seed: int = 0, scale: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A bright disk and a dark square drifting half a pixel per slice on a mid-grey background.

    Returns the float32 (Z, Y, X) stack of ``size * scale`` pixels square and its truth
    (0 background, 1 disk, 2 square); ``scale`` enlarges the objects and the field, not the
    drift. The background sits between the two objects in brightness, so that blurred
    object edges do not look like the other object.
    """
    rng = np.random.default_rng(seed)
    side = size * scale
    yy, xx = np.mgrid[:side, :side]
    stack = np.empty((n_slices, side, side), np.float32)
    truth = np.zeros((n_slices, side, side), np.int64)
    for z in range(n_slices):
        disk = (yy - 14 * scale - z / 2) ** 2 + (xx - 14 * scale - z / 2) ** 2 < (8 * scale) ** 2
        square = (abs(yy - 32 * scale) < 7 * scale) & (abs(xx - 31 * scale + z / 2) < 7 * scale)
        truth[z][disk], truth[z][square] = 1, 2
        stack[z] = np.choose(truth[z], [0.5, 0.95, 0.05]) + rng.normal(0, noise, (side, side))
    return stack, truth


def strokes(truth: np.ndarray, slices: tuple[int, ...] = (0, -1)) -> np.ndarray:
    """Scribbles on ``slices``: a short stroke inside each object (ids 1 background, 2 disk, 3 square)."""
    scribbles = np.zeros(truth.shape, np.uint8)
    for z in slices:
        for value in (0, 1, 2):
            rows, cols = np.nonzero(truth[z] == value)
            centre = rows.mean().round().astype(int) if value else 42
            keep = (abs(rows - centre) < 2) & (abs(cols - np.median(cols)) < (12 if value == 0 else 4))
            scribbles[z][rows[keep], cols[keep]] = value + 1
    return scribbles


def consistency(labels: np.ndarray, truth: np.ndarray) -> tuple[float, dict[int, float], dict[int, int]]:
    """Score slice-to-slice id consistency against ``truth`` (objects along axis 0).

    Returns
    -------
    share : float
        Share of object voxels whose id equals the id that the same object mostly has in
        the next slice.
    ious : dict
        Per object: IoU of the object with the id it mostly has over the whole stack.
    ids : dict
        Per object: that id.
    """
    objects = np.unique(truth)
    major = {(z, o): np.bincount(labels[z][truth[z] == o]).argmax() for z in range(len(labels)) for o in objects}
    agree = total = 0
    for z in range(len(labels) - 1):
        for o in objects:
            voxels = labels[z][truth[z] == o]
            agree += int(np.sum(voxels == major[z + 1, o]))
            total += voxels.size
    ids = {int(o): int(np.bincount(labels[truth == o]).argmax()) for o in objects}
    ious = {}
    for o, label in ids.items():
        predicted, actual = labels == label, truth == o
        ious[o] = float((predicted & actual).sum() / (predicted | actual).sum())
    return agree / total, ious, ids
