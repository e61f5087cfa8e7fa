"""Label slices as tasks on a dask.distributed cluster with one shared, trained model.

The model's bytes are scattered once to every worker (``broadcast=True``); each worker
loads them once and keeps the model for all its tasks. The model's parameters pin torch's
thread count (dask workers change OMP settings), so every task computes exactly what a
local run computes.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np

from ..segmenter import Segmenter
from .shared import label_image

_WORKER_MODELS: dict[str, Segmenter] = {}  # per worker process: digest -> loaded model


def predict_on_cluster(
    client: Any,
    model: bytes,
    images: Iterable[tuple[int, np.ndarray]],
    *,
    channel_axis: int | None = None,
    device: str = "auto",
    in_flight: int | None = None,
    fragments: Sequence[int] = (),
) -> Iterator[tuple[int, np.ndarray]]:
    """Label ``(key, image)`` pairs on the cluster; yield ``(key, labels)`` as they finish.

    Parameters
    ----------
    client : dask.distributed.Client
        The cluster's client.
    model : bytes
        A model saved by :meth:`~napari_diffseg.segmenter.Segmenter.save` (with its ids
        fixed by :meth:`~napari_diffseg.segmenter.Segmenter.fix_ids` and its thread count
        set, so that all workers label alike).
    images : iterable of (int, numpy.ndarray)
        Images to label, read lazily: at most ``in_flight`` are held at a time.
    channel_axis : int, optional
        Axis of each image holding channels.
    device : str
        Device on the workers.
    in_flight : int, optional
        Tasks submitted at once (default: twice the number of worker threads).
    fragments : sequence of int
        Ids whose pixels are filled from their surroundings
        (:func:`~napari_diffseg.postprocess.fill_fragments`).

    Notes
    -----
    Closing the generator cancels the tasks still queued.
    """
    from distributed import as_completed

    digest = hashlib.sha1(model).hexdigest()
    shipped = client.scatter(model, broadcast=True, hash=False)
    if in_flight is None:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
        in_flight = 2 * max(1, threads)
    queue = iter(images)
    running = as_completed()

    def submit_next() -> None:
        item = next(queue, None)
        if item is not None:
            key, image = item
            running.add(
                client.submit(
                    _label_task, shipped, digest, key, image, channel_axis, device, list(fragments), pure=False
                )
            )

    for _ in range(in_flight):
        submit_next()
    try:
        for future in running:
            key, labels = future.result()
            future.release()
            submit_next()
            yield key, labels
    finally:
        remaining = list(running.futures)
        if remaining:
            client.cancel(remaining)


def _label_task(
    model: bytes,
    digest: str,
    key: int,
    image: np.ndarray,
    channel_axis: int | None,
    device: str,
    fragments: list[int],
) -> tuple[int, np.ndarray]:
    """Runs on a worker: label one image with the worker's copy of the model."""
    segmenter = _WORKER_MODELS.get(digest)
    if segmenter is None:
        _WORKER_MODELS.clear()  # keep one model per worker
        segmenter = _WORKER_MODELS[digest] = Segmenter.load(io.BytesIO(model), device=device)
    return key, label_image(segmenter, image, channel_axis, fragments)


def cached_model_count() -> int:
    """How many models this (worker) process keeps loaded for its tasks: 0 or 1."""
    return len(_WORKER_MODELS)
