"""What the network sees while training: random crops, and the calibration grid.

Training on crops (``train_pixels``) draws a fresh batch each iteration, half of its crops
centred on painted pixels; BatchNorm's statistics are recalibrated on an even grid of crops
of up to :data:`CALIBRATION_FACTOR` times as many pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

CALIBRATION_FACTOR = 4  # BatchNorm statistics come from up to 4x the pixels of one batch


def crop_shape(height: int, width: int, crop_size: int) -> tuple[int, int]:
    """Shape of the training crops of a ``height`` x ``width`` image (square, at most the image)."""
    return min(crop_size, height), min(crop_size, width)


def crop_corners(
    rng: np.random.Generator,
    shape: tuple[int, int, int],
    crop_size: int,
    budget: int,
    painted: np.ndarray | None = None,
) -> list[tuple[int, int, int]]:
    """(image index, top, left) of each crop of one training batch.

    Parameters
    ----------
    rng : numpy.random.Generator
        The sampler's generator (advanced by this call).
    shape : (int, int, int)
        Number of images, height and width.
    crop_size : int
        Side of the square crops.
    budget : int
        Pixels of the batch, at most.
    painted : numpy.ndarray, optional
        (N, H, W) channel targets (-1 = unpainted); half of the crops are then centred on
        painted pixels, so that every batch sees scribbles.
    """
    n_images, height, width = shape
    side_y, side_x = crop_shape(height, width, crop_size)
    count = max(1, budget // (side_y * side_x))
    ys = rng.integers(0, height - side_y + 1, size=count)
    xs = rng.integers(0, width - side_x + 1, size=count)
    images = rng.integers(0, n_images, size=count) if n_images > 1 else np.zeros(count, dtype=np.int64)
    if painted is not None:
        which, rows, cols = np.nonzero(painted >= 0)
        picks = rng.integers(0, rows.size, size=(count + 1) // 2)
        images[: picks.size] = which[picks]
        ys[: picks.size] = np.clip(rows[picks] - side_y // 2, 0, height - side_y)
        xs[: picks.size] = np.clip(cols[picks] - side_x // 2, 0, width - side_x)
    return list(zip(images.tolist(), ys.tolist(), xs.tolist(), strict=True))


def training_batch(
    rng: np.random.Generator,
    image: torch.Tensor,
    targets: torch.Tensor | None,
    painted: np.ndarray | None,
    *,
    budget: int | None,
    crop_size: int,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The whole (N, C, H, W) ``image``, or a batch of random crops of at most ``budget`` pixels.

    ``targets`` ((N, H, W) channel targets or None) are cropped alike; ``painted`` is their
    numpy copy (see :func:`crop_corners`).
    """
    import torch

    n_images, height, width = image.shape[0], *image.shape[-2:]
    if budget is None or n_images * height * width <= budget:
        return image, targets
    corners = crop_corners(rng, (n_images, height, width), crop_size, budget, painted)
    side_y, side_x = crop_shape(height, width, crop_size)
    crops = torch.cat([image[i : i + 1, :, y : y + side_y, x : x + side_x] for i, y, x in corners])
    if targets is None:
        return crops, None
    return crops, torch.cat([targets[i : i + 1, y : y + side_y, x : x + side_x] for i, y, x in corners])


def calibration_batch(image: torch.Tensor, *, train_pixels: int | None, crop_size: int) -> torch.Tensor:
    """The training image(s), or an even grid of crops of them when they are large."""
    import torch

    n_images, height, width = image.shape[0], *image.shape[-2:]
    budget = None if train_pixels is None else CALIBRATION_FACTOR * train_pixels
    if budget is None or n_images * height * width <= budget:
        return image
    side_y, side_x = crop_shape(height, width, crop_size)
    per_axis = max(1, int(np.sqrt(budget / (n_images * side_y * side_x))))
    ys = np.linspace(0, height - side_y, per_axis).round().astype(int)
    xs = np.linspace(0, width - side_x, per_axis).round().astype(int)
    return torch.cat([image[..., y : y + side_y, x : x + side_x] for y in ys for x in xs])
