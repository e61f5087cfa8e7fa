"""One-call segmentation of a 2D image."""

from __future__ import annotations

from typing import Any

import numpy as np

from .params import Params
from .progress import Callback, drive
from .segmenter import Segmenter


def segment(
    image: np.ndarray,
    scribbles: np.ndarray | None = None,
    *,
    channel_axis: int | None = None,
    preset: str | Params = "fast",
    seed: int = 0,
    device: str = "auto",
    callback: Callback | None = None,
    **params: Any,
) -> np.ndarray:
    """Segment a 2D image by differentiable feature clustering.

    Parameters
    ----------
    image : array_like
        (H, W) grayscale, (H, W, 3|4) RGB(A), or a 3D multichannel image with
        ``channel_axis``. Any real dtype or intensity range; NaN/inf pixels are allowed.
    scribbles : array_like, optional
        (H, W) napari-style scribbles: 0 = unlabeled, each positive id a class.
    channel_axis : int, optional
        Axis of ``image`` holding channels (default: 2D is grayscale, a trailing axis
        of 3 or 4 is RGB(A)).
    preset : {"fast", "paper"} or Params
        ``"fast"`` (interactive default) or ``"paper"`` (the reference implementation).
    seed : int
        Same input and seed give identical labels on the CPU.
    device : {"auto", "cpu", "cuda", "mps"}
        Where to compute.
    callback : callable, optional
        Called with a :class:`~napari_diffseg.progress.Progress` after each iteration;
        return False to stop early.
    **params
        Overrides of any :class:`~napari_diffseg.params.Params` field, e.g. ``max_iter``.

    Returns
    -------
    numpy.ndarray
        uint16 (uint32 when ids do not fit) labels with the image's spatial shape. Without
        scribbles the ids are 1..K; with scribbles painted ids are kept. Never 0.

    Examples
    --------
    >>> import numpy as np
    >>> from napari_diffseg import segment
    >>> image = np.zeros((32, 32)); image[:, 16:] = 1
    >>> labels = segment(image, max_iter=20)
    >>> labels.shape, int(labels.min()) >= 1
    ((32, 32), True)
    """
    segmenter = Segmenter(preset, seed=seed, device=device, **params)
    steps = segmenter.train(image, scribbles, channel_axis=channel_axis)  # prepares image and scribbles
    data = segmenter.image
    if segmenter.scribble_ids.size == 0 and bool(data.min() == data.max()):
        # Nothing to cluster; training would only find the image border (zero padding).
        return np.ones(tuple(data.shape[-2:]), dtype=np.uint16)
    drive(steps, callback)
    labels = segmenter.labels()
    if segmenter.scribble_ids.size == 0:
        from skimage.segmentation import relabel_sequential

        labels = relabel_sequential(labels)[0]
    return labels
