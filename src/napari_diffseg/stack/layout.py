"""Which axes of a stack are slices and which belong to each 2D image, and which slices to train on."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..preprocess import is_rgb_shape

SPREAD_SLICES = 5  # slices of the spread sample that "shared" mode trains on by default


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
        where = dict(zip(self.stack_axes, self.position(flat), strict=True))
        return tuple(where.get(a, slice(None)) for a in range(len(self.shape)))

    def label_index(self, flat: int) -> tuple:
        where = dict(zip(self.stack_axes, self.position(flat), strict=True))
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
    rgb = channel is None and len(image_axes) == 3 and image_axes[-1] == ndim - 1 and is_rgb_shape(shape)
    spatial = [a for a in image_axes if a != channel and not (rgb and a == ndim - 1)]
    if len(spatial) != 2:
        raise ValueError(
            f"slices of a stack of shape {tuple(shape)} along axis {tuple(axes)} are "
            f"{len(image_axes)}D; pass every non-spatial axis as axis (a tuple) and channels as channel_axis"
        )
    slice_channel = None if channel is None else image_axes.index(channel)
    label_axes = tuple(a for a in range(ndim) if a in stack_axes or a in spatial)
    return StackLayout(tuple(int(n) for n in shape), stack_axes, label_axes, slice_channel)


def spread(count: int, size: int = SPREAD_SLICES) -> list[int]:
    """Up to ``size`` evenly spread indices among ``count`` items (first and last included)."""
    return sorted({int(i) for i in np.linspace(0, count - 1, min(count, size)).round()})


def train_flats(train_slices: Sequence[Any] | None, layout: StackLayout) -> list[int]:
    """Flat indices of ``train_slices`` (ints, or index tuples for several stack axes), sorted; [] for None.

    Raises
    ------
    ValueError
        For a slice out of range, or an empty selection.
    """
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
                not 0 <= p < n for p, n in zip(position, layout.stack_shape, strict=False)
            ):
                raise ValueError(f"train slice {item!r} is out of range for stack axes of shape {layout.stack_shape}")
            flat = int(np.ravel_multi_index(position, layout.stack_shape))
        flats.append(int(flat))
    if not flats:
        raise ValueError("train_slices is empty; pass at least one slice or None")
    return sorted(set(flats))
