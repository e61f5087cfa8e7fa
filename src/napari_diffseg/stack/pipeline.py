"""The shared-model pipeline: train (or take) one model, save it, fold fragments, label every image.

:func:`shared_model_steps` is the one pipeline behind ``segment_stack(mode="shared")`` and the
command line's folder mode; both give it a :class:`LabelSink` that stores finished labels.
It is a generator of :class:`~napari_diffseg.progress.StackProgress` records: stop iterating
to cancel (queued cluster tasks are cancelled too).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from ..params import Params
from ..progress import StackProgress
from ..segmenter import Segmenter
from .shared import label_image, model_bytes, prepare_model, shared_fragments, shared_training

TrainingData = Callable[[], tuple[list[np.ndarray], list[np.ndarray | None] | None]]


class LabelSink(Protocol):
    """Where a pipeline puts finished labels, and how it describes them in progress records."""

    n_slices: int

    @property
    def done(self) -> int:
        """Images labelled so far (including those of a resumed run)."""

    def open(self, model: Segmenter) -> None:
        """Called once the model is ready, before the first write."""

    def write(self, key: Any, labels: np.ndarray) -> np.ndarray:
        """Store the labels of image ``key``; return them as stored."""

    def position(self, key: Any) -> tuple[int, ...]:
        """The index reported for image ``key``."""


def label_images(
    segmenter: Segmenter,
    images: Iterable[tuple[Any, np.ndarray]],
    *,
    channel_axis: int | None = None,
    client: Any = None,
    device: str = "auto",
    fragments: Sequence[int] = (),
) -> Iterator[tuple[Any, np.ndarray]]:
    """Label ``(key, image)`` pairs with one model; yield ``(key, labels)``.

    The model is prepared first (:func:`~napari_diffseg.stack.shared.prepare_model`), so that
    labels do not depend on the order or the place images are labelled in: locally in order,
    or on ``client``'s cluster in order of completion. Pixels of ``fragments`` ids are filled
    from their surroundings (:func:`~napari_diffseg.postprocess.fill_fragments`).
    """
    prepare_model(segmenter)
    fragments = [int(f) for f in fragments]
    if client is None:
        return ((key, label_image(segmenter, image, channel_axis, fragments)) for key, image in images)
    from .distributed import predict_on_cluster

    return predict_on_cluster(
        client, model_bytes(segmenter), images, channel_axis=channel_axis, device=device, fragments=fragments
    )


def shared_model_steps(
    model: Segmenter | None,
    training_data: TrainingData,
    sample: Callable[[], Iterable[np.ndarray]],
    pending: Iterable[tuple[Any, np.ndarray]],
    sink: LabelSink,
    *,
    channel_axis: int | None,
    params: Params,
    seed: int,
    device: str = "auto",
    client: Any = None,
    save_model: str | os.PathLike | None = None,
    merge_fragments: bool = True,
) -> Iterator[StackProgress]:
    """Run the shared-model pipeline, yielding a record per training iteration and per labelled image.

    Parameters
    ----------
    model : Segmenter or None
        A trained model to label with; None trains one on ``training_data()`` (images and
        scribbles) with ``params`` and ``seed``.
    training_data : callable
        Returns the images (and scribbles, or None) to train on; called only when training.
    sample : callable
        Returns the images that fragment ids are found on (see ``merge_fragments``).
    pending : iterable of (key, image)
        The images to label, read lazily.
    sink : LabelSink
        Stores each image's labels.
    channel_axis : int or None
        Axis of each image holding channels.
    params, seed, device
        Training parameters (``final_forward="eval"`` is imposed), seed and device.
    client : dask.distributed.Client, optional
        Label on this cluster instead of here.
    save_model : path, optional
        Save the model there (ids fixed) before labelling.
    merge_fragments : bool
        Fold fragment clusters of runs without scribbles into their surroundings.
    """
    if model is None:
        images, marks = training_data()
        model, steps = shared_training(
            images, marks, channel_axis=channel_axis, preset=params, seed=seed, device=device
        )
        for progress in steps:
            yield StackProgress("train", sink.done, sink.n_slices, None, training=progress)
    if save_model is not None:
        model.fix_ids()
        model.save(save_model)  # before prepare_model pins this machine's thread count
    prepare_model(model)
    sink.open(model)
    fragments = shared_fragments(model, sample(), channel_axis=channel_axis) if merge_fragments else []
    results = label_images(model, pending, channel_axis=channel_axis, client=client, device=device, fragments=fragments)
    try:
        for key, labels in results:
            written = sink.write(key, labels)
            yield StackProgress("label", sink.done, sink.n_slices, sink.position(key), written)
    finally:
        results.close()
