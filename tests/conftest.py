"""Shared fixtures: synthetic images with known truth, built in code."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from hypothesis import settings

# Tests use tiny images: one thread is as fast as two, and stays fast on a busy machine
# (two OpenMP threads competing with other processes for two cores slow down many-fold).
torch.set_num_threads(1)

REGION_COLOURS = np.array([[200, 60, 50], [60, 170, 70], [50, 70, 200], [220, 210, 80]], dtype=float)


def region_truth(height: int = 96, width: int = 96) -> np.ndarray:
    """Four regions 0..3: left band, right band split in two, and a disk in the middle."""
    yy, xx = np.mgrid[0:height, 0:width]
    truth = np.where(xx < width // 2, 0, 1)
    truth[(xx >= width // 2) & (yy >= height // 2)] = 2
    truth[(yy - height / 2) ** 2 + (xx - width / 2) ** 2 < (min(height, width) / 5) ** 2] = 3
    return truth


def piecewise_rgb(truth: np.ndarray, *, noise: float = 12.0, gradient: float = 25.0, seed: int = 0) -> np.ndarray:
    """uint8 RGB: one colour per region, plus a left-to-right brightness ramp and Gaussian noise."""
    rng = np.random.default_rng(seed)
    height, width = truth.shape
    ramp = np.linspace(0, gradient, width)[None, :, None]
    image = REGION_COLOURS[truth] + ramp + rng.normal(0, noise, (height, width, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def three_discs(shape=(64, 96), centres=((20, 20), (20, 37), (44, 70)), radius=10) -> np.ndarray:
    """uint8 class labels: 0 = background, 1 = three discs of which the first two touch."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.uint8)
    for y, x in centres:
        labels[(yy - y) ** 2 + (xx - x) ** 2 < radius**2] = 1
    return labels


def best_iou(truth_mask: np.ndarray, labels: np.ndarray) -> float:
    """IoU of ``truth_mask`` with the label that overlaps it best."""
    best = 0.0
    for label in np.unique(labels[truth_mask]):
        predicted = labels == label
        best = max(best, (predicted & truth_mask).sum() / (predicted | truth_mask).sum())
    return float(best)


@pytest.fixture
def truth() -> np.ndarray:
    return region_truth()


@pytest.fixture
def rgb_image(truth: np.ndarray) -> np.ndarray:
    return piecewise_rgb(truth)


@pytest.fixture
def small_rgb() -> np.ndarray:
    """A 24x24 two-region RGB image for tests that are not about quality."""
    return piecewise_rgb(region_truth(24, 24)[:, :] % 2, noise=5.0)


# Property-based tests: a short profile by default (CI), a long one on request
# (``python -m pytest tests/test_properties.py --hypothesis-profile long``).
settings.register_profile("ci", max_examples=12, deadline=None, derandomize=True, print_blob=True)
settings.register_profile("long", max_examples=300, deadline=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
