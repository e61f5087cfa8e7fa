"""One model for many images (the reference-image mode): training it, and labelling alike with it."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..params import Params, resolve_params
from ..postprocess import fill_fragments, find_fragments
from ..progress import Callback, Progress, drive
from ..segmenter import Segmenter


def shared_training(
    images: Sequence[np.ndarray],
    scribbles: Sequence[np.ndarray | None] | None = None,
    *,
    channel_axis: int | None = None,
    preset: str | Params = "fast",
    seed: int = 0,
    device: str = "auto",
    **params: Any,
) -> tuple[Segmenter, Iterator[Progress]]:
    """Set up one network for several images of one kind; return it and its training generator.

    Images of different sizes are padded to a common size by mirroring (scribbles by
    zeros) for training only. Iterate the generator to train (stop to cancel).

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
    """
    if len(images) == 0:
        raise ValueError("train_shared needs at least one image")
    images = [np.asarray(image) for image in images]
    scribbles = [None] * len(images) if scribbles is None else [None if s is None else np.asarray(s) for s in scribbles]
    if len(scribbles) != len(images):
        raise ValueError(f"got {len(scribbles)} scribble arrays for {len(images)} images; pass one per image")
    images, scribbles = _pad_to_common_shape(images, scribbles, channel_axis)
    segmenter = Segmenter(resolve_params(preset, **params).replace(final_forward="eval"), seed=seed, device=device)
    marks = scribbles if any(s is not None and np.any(s) for s in scribbles) else None
    return segmenter, segmenter.train(images, marks, channel_axis=channel_axis)


def train_shared(
    images: Sequence[np.ndarray],
    scribbles: Sequence[np.ndarray | None] | None = None,
    *,
    callback: Callback | None = None,
    **options: Any,
) -> Segmenter:
    """Train one network on several images of one kind; ``options`` as in :func:`shared_training`.

    ``callback(progress)`` is called with each :class:`~napari_diffseg.progress.Progress` and may
    return False to stop training there. Returns the model, ready for
    :meth:`~napari_diffseg.segmenter.Segmenter.predict`.
    """
    segmenter, steps = shared_training(images, scribbles, **options)
    drive(steps, callback)
    return segmenter


def prepare_model(segmenter: Segmenter) -> None:
    """Make a model label alike wherever and in whatever order it labels images.

    Fixes its ids (:meth:`~napari_diffseg.segmenter.Segmenter.fix_ids`) and pins its torch
    thread count (to torch's current setting unless ``threads`` is set): dask workers
    change OpenMP settings.
    """
    if segmenter.params.threads is None:
        import torch

        segmenter.set_params(threads=torch.get_num_threads())
    segmenter.fix_ids()


def shared_fragments(
    segmenter: Segmenter, images: Iterable[np.ndarray], *, channel_axis: int | None = None
) -> list[int]:
    """The fragment ids (:func:`~napari_diffseg.postprocess.find_fragments`) of a model's labels on ``images``.

    Empty for a model trained with scribbles: then every id is a painted class.
    """
    if segmenter.scribble_ids.size:
        return []
    return find_fragments([segmenter.predict(image, channel_axis=channel_axis) for image in images])


def label_image(
    segmenter: Segmenter, image: np.ndarray, channel_axis: int | None, fragments: Sequence[int]
) -> np.ndarray:
    """One image's labels: :meth:`~napari_diffseg.segmenter.Segmenter.predict`, then fragments filled."""
    return fill_fragments(segmenter.predict(image, channel_axis=channel_axis), fragments)


def model_bytes(segmenter: Segmenter) -> bytes:
    """The model file of ``segmenter`` (:meth:`~napari_diffseg.segmenter.Segmenter.save`) as bytes."""
    buffer = io.BytesIO()
    segmenter.save(buffer)
    return buffer.getvalue()


def _pad_to_common_shape(
    images: list[np.ndarray], scribbles: list[np.ndarray | None], channel_axis: int | None
) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
    spatial = [_spatial_axes(image, channel_axis) for image in images]
    sizes = [tuple(image.shape[a] for a in axes) for image, axes in zip(images, spatial, strict=True)]
    target = tuple(max(size[i] for size in sizes) for i in range(2))
    if all(size == target for size in sizes):
        return images, scribbles
    padded_images, padded_marks = [], []
    for image, marks, axes, size in zip(images, scribbles, spatial, sizes, strict=True):
        pad = [(0, 0)] * image.ndim
        for axis_, have, want in zip(axes, size, target, strict=True):
            pad[axis_] = (0, want - have)
        padded_images.append(np.pad(image, pad, mode="symmetric"))
        extra = [(0, want - have) for have, want in zip(size, target, strict=True)]
        padded_marks.append(None if marks is None else np.pad(marks, extra))
    return padded_images, padded_marks


def _spatial_axes(image: np.ndarray, channel_axis: int | None) -> tuple[int, int]:
    if image.ndim == 2 or channel_axis is None:
        return 0, 1
    channel = channel_axis % image.ndim
    first, second = (a for a in range(image.ndim) if a != channel)
    return first, second
