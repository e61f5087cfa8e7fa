"""The paper's metric (benchmarks/metric.py) on cases whose value is known."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import datasets
import metric


def test_perfect_prediction_scores_one():
    truth = np.repeat(np.arange(1, 5), 4).reshape(4, 4)
    assert metric.best_match_ious(truth * 10, truth).tolist() == [1.0] * 4


def test_one_label_is_split_into_connected_components():
    truth = np.array([[1, 2, 1], [1, 2, 1]])  # segment 1 is two separate columns
    prediction = np.array([[5, 6, 5], [5, 6, 5]])  # label 5 is disconnected too
    # Each component of label 5 covers half of segment 1: IoU 2/4; segment 2 matches exactly.
    assert metric.best_match_ious(prediction, truth).tolist() == [0.5, 1.0]


def test_best_match_and_pooling_over_segments_not_images():
    truth_a = np.array([[1, 1, 2, 2]])
    prediction_a = np.array([[1, 1, 1, 2]])  # seg 1: IoU 2/3 with label 1; seg 2: 1/2 with label 2
    truth_b = np.ones((1, 4), int)
    prediction_b = np.ones((1, 4), int)  # one segment, IoU 1
    ious = metric.best_match_ious(prediction_a, truth_a)
    np.testing.assert_allclose(ious, [2 / 3, 1 / 2])
    pooled = metric.pooled_miou([prediction_a, prediction_b], [truth_a, truth_b])
    assert pooled == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)  # not the mean of per-image means


def test_void_pixels_are_ignored():
    truth = np.array([[0, 0, 255, 7, 7]])
    prediction = np.array([[1, 1, 2, 2, 2]])
    # Without the void pixel, segment 0 matches label 1 exactly and segment 7 matches label 2.
    assert metric.best_match_ious(prediction, truth, void=255).tolist() == [1.0, 1.0]


def test_fine_and_coarse_pick_the_annotations_with_most_and_fewest_segments():
    coarse = np.array([[1, 1, 1, 1]])
    fine = np.array([[1, 2, 3, 4]])
    prediction = np.array([[1, 1, 2, 2]])
    scores = metric.bsds_miou([prediction], [(fine, coarse)])
    assert scores["coarse"] == pytest.approx(0.5)
    assert scores["fine"] == pytest.approx(0.5)
    assert scores["all"] == pytest.approx((0.5 * 4 + 0.5) / 5)


def test_instance_f1_counts_matches_above_half_iou():
    instances = np.zeros((10, 10), int)
    instances[1:4, 1:4] = 1
    instances[6:9, 6:9] = 2
    foreground = np.zeros((10, 10), bool)
    foreground[1:4, 1:4] = True  # matches nucleus 1
    foreground[6:7, 6:7] = True  # too small for nucleus 2: IoU 1/9
    assert metric.instance_f1(foreground, instances) == pytest.approx(2 * 1 / (2 + 2))
    assert metric.foreground_iou(foreground, instances, void=None) == pytest.approx(10 / 18)


@pytest.mark.skipif(not datasets.data_available(), reason=datasets.MISSING_DATA)
def test_blank_row_on_the_bsds_dev_images():
    """A one-segment prediction: each segment's IoU is its area fraction, pooled as the paper does.

    On the 200 test images the paper's protocol gives 0.0458 / 0.0249 / 0.1001; the 50 train
    images here must give the same closed form and land near those values.
    """
    images = datasets.load_bsds(datasets.bsds_names())
    scores = metric.bsds_miou([np.ones(item.image.shape[:2], int) for item in images], [item.truths for item in images])

    def closed_form(annotations):
        fractions = [np.unique(t, return_counts=True)[1] / t.size for t in annotations]
        return float(np.concatenate(fractions).mean())

    counts = [[np.unique(t).size for t in item.truths] for item in images]
    assert scores["all"] == pytest.approx(closed_form([t for item in images for t in item.truths]))
    assert scores["fine"] == pytest.approx(
        closed_form([item.truths[int(np.argmax(c))] for item, c in zip(images, counts, strict=True)])
    )
    assert scores["coarse"] == pytest.approx(
        closed_form([item.truths[int(np.argmin(c))] for item, c in zip(images, counts, strict=True)])
    )
    np.testing.assert_allclose([scores["all"], scores["fine"], scores["coarse"]], [0.0458, 0.0249, 0.1001], atol=0.005)
