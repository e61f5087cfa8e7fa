"""The paper's segmentation metric, as the paper defines it (protocol in docs/benchmarks.md).

1. split every predicted label into its 4-connected components;
2. for every ground-truth segment, take the IoU with its best-matching predicted segment;
3. pool over the dataset: sum of those IoUs / number of ground-truth segments.

"all" pools every annotation of every image, "fine" only each image's annotation with the
most segments, "coarse" the one with the fewest. Void pixels (VOC: 255) are left out of
every segment. Also the scribble-set scores: foreground IoU and instance F1 at IoU 0.5.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

VOID = 255


def best_match_ious(prediction: np.ndarray, truth: np.ndarray, void: int | None = None) -> np.ndarray:
    """IoU of every ground-truth segment with its best-matching predicted component.

    Parameters
    ----------
    prediction : numpy.ndarray
        Integer (H, W) labels; each label is split into 4-connected components.
    truth : numpy.ndarray
        Integer (H, W) ground truth; each distinct value is one segment.
    void : int, optional
        Ground-truth value whose pixels are ignored (not a segment, not counted anywhere).

    Returns
    -------
    numpy.ndarray
        One IoU per ground-truth segment, in ascending order of its value.
    """
    from skimage.measure import label as connected_components

    if prediction.shape != truth.shape:
        raise ValueError(f"prediction {prediction.shape} and truth {truth.shape} differ in shape")
    shifted = prediction.astype(np.int64) - prediction.min() + 1  # no value is background
    components = connected_components(shifted, background=0, connectivity=1)
    keep = np.ones(truth.shape, bool) if void is None else truth != void
    _, gt = np.unique(truth[keep], return_inverse=True)
    pr = components[keep]
    n_gt, n_pr = gt.max() + 1, pr.max() + 1
    intersection = np.bincount(gt * n_pr + pr, minlength=n_gt * n_pr).reshape(n_gt, n_pr)
    union = intersection.sum(1, keepdims=True) + intersection.sum(0, keepdims=True) - intersection
    return (intersection / union).max(axis=1)


def pooled_miou(predictions: Sequence[np.ndarray], truths: Sequence[np.ndarray], void: int | None = None) -> float:
    """Sum of best-match IoUs over every ground-truth segment of every image / their number."""
    ious = np.concatenate([best_match_ious(p, t, void) for p, t in zip(predictions, truths, strict=True)])
    return float(ious.mean())


def bsds_miou(predictions: Sequence[np.ndarray], annotations: Sequence[Sequence[np.ndarray]]) -> dict[str, float]:
    """BSDS500 mIoU "all" / "fine" / "coarse" of one prediction per image.

    Parameters
    ----------
    predictions : sequence of numpy.ndarray
        One label image per image.
    annotations : sequence of sequences of numpy.ndarray
        Every human segmentation of each image.
    """
    pairs_all, pairs_fine, pairs_coarse = [], [], []
    for prediction, truths in zip(predictions, annotations, strict=True):
        counts = [np.unique(t).size for t in truths]
        pairs_all += [(prediction, t) for t in truths]
        pairs_fine.append((prediction, truths[int(np.argmax(counts))]))
        pairs_coarse.append((prediction, truths[int(np.argmin(counts))]))
    return {
        name: pooled_miou(*zip(*pairs, strict=True))
        for name, pairs in (("all", pairs_all), ("fine", pairs_fine), ("coarse", pairs_coarse))
    }


def foreground_iou(foreground: np.ndarray, truth: np.ndarray, void: int | None = VOID) -> float:
    """IoU of a predicted foreground mask with ``truth > 0`` (void pixels ignored)."""
    keep = np.ones(truth.shape, bool) if void is None else truth != void
    predicted, actual = foreground[keep].astype(bool), truth[keep] > 0
    union = np.logical_or(predicted, actual).sum()
    return float(np.logical_and(predicted, actual).sum() / union) if union else 1.0


def instance_f1(foreground: np.ndarray, instances: np.ndarray, threshold: float = 0.5) -> float:
    """F1 of the connected components of ``foreground`` against ``instances`` at IoU > ``threshold``.

    With ``threshold >= 0.5`` a match is unique, so no assignment step is needed.
    """
    from skimage.measure import label as connected_components

    predicted = connected_components(foreground.astype(bool), connectivity=1)
    n_pr, n_gt = predicted.max() + 1, instances.max() + 1
    intersection = np.bincount(instances.ravel() * n_pr + predicted.ravel(), minlength=n_gt * n_pr)
    intersection = intersection.reshape(n_gt, n_pr)[1:, 1:]
    true_area = np.bincount(instances.ravel(), minlength=n_gt)[1:, None]
    predicted_area = np.bincount(predicted.ravel(), minlength=n_pr)[None, 1:]
    union = true_area + predicted_area - intersection
    matches = int(((intersection / np.maximum(union, 1)) > threshold).sum())
    n_true, n_pred = int((true_area > 0).sum()), n_pr - 1
    return 2 * matches / (n_true + n_pred) if n_true + n_pred else 1.0
