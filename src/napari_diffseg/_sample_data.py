"""Sample data for File > Open Sample > napari-diffseg (no downloads: bundled or generated)."""

from __future__ import annotations

from typing import Any

import numpy as np

LayerData = tuple[np.ndarray, dict[str, Any], str]

# Strokes on scikit-image's immunohistochemistry image (512x512 RGB): (class id, rows, cols).
_TISSUE_STROKES = (
    (1, slice(128, 133), slice(60, 200)),  # DAB-stained gland (brown)
    (2, slice(278, 283), slice(150, 240)),  # stroma (pale blue)
    (3, slice(300, 420), slice(18, 23)),  # empty lumen (white)
)


def tissue_scribbles(shape: tuple[int, int] = (512, 512)) -> np.ndarray:
    """Three example scribble classes for :func:`tissue_sample`'s image.

    Parameters
    ----------
    shape : tuple of int
        Spatial shape of the image.

    Returns
    -------
    numpy.ndarray
        uint8 labels, 0 = unlabeled, 1 = stained gland, 2 = stroma, 3 = lumen.
    """
    scribbles = np.zeros(shape, dtype=np.uint8)
    for label, rows, cols in _TISSUE_STROKES:
        scribbles[rows, cols] = label
    return scribbles


def tissue_sample() -> list[LayerData]:
    """Immunohistochemistry image (scikit-image, bundled) with example scribbles."""
    from skimage.data import immunohistochemistry

    image = immunohistochemistry()
    return [
        (image, {"name": "tissue", "rgb": True}, "image"),
        (tissue_scribbles(image.shape[:2]), {"name": "tissue scribbles", "opacity": 0.9}, "labels"),
    ]


def nuclei_stack(shape: tuple[int, int, int] = (16, 128, 128), n_nuclei: int = 14, seed: int = 0) -> np.ndarray:
    """A synthetic 3D stack of blurred ellipsoidal nuclei that drift between slices.

    Parameters
    ----------
    shape : tuple of int
        (Z, Y, X) shape.
    n_nuclei : int
        Number of nuclei.
    seed : int
        Seed of the generator: the same seed gives the same stack.

    Returns
    -------
    numpy.ndarray
        uint16 stack with a dim, noisy background.
    """
    from skimage.filters import gaussian

    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    volume = np.zeros(shape, dtype=np.float32)
    for _ in range(n_nuclei):
        cz, cy, cx = (rng.uniform(0.15, 0.85) * s for s in shape)
        drift_y, drift_x = rng.normal(0, 0.4, size=2)  # pixels per slice
        rz, ry, rx = rng.uniform(3, 5), rng.uniform(7, 12), rng.uniform(7, 12)
        inside = ((z - cz) / rz) ** 2 + ((y - cy - drift_y * (z - cz)) / ry) ** 2 + (
            (x - cx - drift_x * (z - cz)) / rx
        ) ** 2 <= 1
        volume[inside] = rng.uniform(0.5, 1.0)
    volume = gaussian(volume, sigma=(0.7, 1.2, 1.2))
    volume += rng.normal(0.08, 0.03, size=shape).astype(np.float32)
    return (np.clip(volume, 0, 1) * 4000).astype(np.uint16)


def nuclei_stack_sample() -> list[LayerData]:
    """A small synthetic (Z, Y, X) nuclei stack with anisotropic voxels."""
    return [(nuclei_stack(), {"name": "nuclei stack", "scale": (2.0, 1.0, 1.0)}, "image")]
