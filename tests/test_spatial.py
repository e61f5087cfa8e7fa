"""The spatial scribble readout on small synthetic images (pure core)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_diffseg.spatial import (
    contrast_weights,
    fit_discriminant,
    graph_cut,
    local_correction,
    reached_share,
    spatial_readout,
)


def _two_blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two bright discs of the same colour on a dark background: (1, 64, 64) image, disc index map."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[:64, :64]
    left = (rows - 32) ** 2 + (cols - 16) ** 2 < 11**2
    right = (rows - 32) ** 2 + (cols - 48) ** 2 < 11**2
    image = (left | right).astype(np.float32)[None] + rng.normal(0, 0.05, (1, 64, 64)).astype(np.float32)
    return image, left.astype(int) + 2 * right.astype(int)


def test_contrast_weights_are_low_across_edges():
    image, _ = _two_blobs()
    right, down = contrast_weights(image)
    assert right.shape == (64, 63) and down.shape == (63, 64)
    assert right[32, 3] > 0.5 > right[32, 26]  # flat background vs the right edge of the left disc


def test_stroke_does_not_leak_into_a_separated_region_of_the_same_colour():
    image, discs = _two_blobs()
    targets = np.full((64, 64), -1)
    targets[32, 12:20] = 0  # class 0: the left disc
    targets[5, 5:60] = 1  # class 1: background
    targets[29:36, 44:53] = 1  # ... and the right disc (same colour as the left one)
    labels, _, _ = spatial_readout(image, image, targets, 2, refits=0, adaptive=False)  # the geodesic term
    assert (labels[discs == 1] == 0).mean() > 0.95
    assert (labels[discs == 2] == 1).mean() > 0.95
    assert (labels[discs == 0] == 1).mean() > 0.95


def test_corrective_stroke_changes_its_region_and_not_a_distant_one():
    image, discs = _two_blobs()
    targets = np.full((64, 64), -1)
    targets[32, 12:20] = 0
    targets[5, 5:60] = 1
    before, _, _ = spatial_readout(image, image, targets, 2, refits=0, adaptive=False)
    assert (before[discs == 2] == 0).mean() > 0.95  # the unpainted right disc looks like class 0
    corrected = targets.copy()
    corrected[29:36, 44:53] = 1  # a correction in the right disc
    after, _, _ = spatial_readout(image, image, corrected, 2, refits=0, adaptive=False)
    assert (after[discs == 2] == 1).mean() > 0.95
    np.testing.assert_array_equal(after[discs == 1], before[discs == 1])


def test_local_correction_changes_only_the_region_under_the_new_stroke():
    previous = np.ones((20, 30), int)
    previous[:, 20:] = 2
    proposal = np.full((20, 30), 3)  # the new solution turns everything into class 3
    strokes = np.zeros((20, 30), int)
    strokes[10, 5] = 3  # painted in the left region only
    out = local_correction(previous, proposal, strokes)
    assert (out[:, :20] == 3).all() and (out[:, 20:] == 2).all()
    proposal[:, 10:20] = 1  # the new solution keeps part of the left region: only the part joined to the stroke moves
    out = local_correction(previous, proposal, strokes)
    assert (out[:, :10] == 3).all() and (out[:, 10:20] == 1).all() and (out[:, 20:] == 2).all()


def test_a_correction_at_an_objects_border_does_not_hand_the_object_to_the_other_side():
    previous = np.full((20, 40), 2)
    previous[4:16, 4:30] = 1  # an object, slightly too wide on the right
    earlier = np.zeros((20, 40), int)
    earlier[9:11, 6:9] = 1  # the object's stroke, at its left
    strokes = np.zeros((20, 40), int)
    strokes[9:11, 27:29] = 2  # a background stroke in the object's wrong right end
    proposal = previous.copy()
    proposal[4:16, 4:30] = 2  # the new solution gives the whole object to the background
    proposal[earlier == 1] = 1
    unguarded = local_correction(previous, proposal, strokes)
    assert (unguarded[4:16, 10:20] == 2).all()  # without the earlier strokes the object is lost
    out = local_correction(previous, proposal, strokes, earlier)
    assert (out[4:16, 4:17] == 1).all()  # the part nearer to the object's stroke stays the object
    assert (out[4:16, 19:30] == 2).all()  # the part nearer to the new stroke is corrected
    away = earlier.copy()
    away[2, 38] = 1  # an earlier stroke of the object's class far from what changes
    far = local_correction(previous, proposal, strokes, np.where(earlier == 1, 0, away))
    np.testing.assert_array_equal(far, unguarded)  # uncontested: the correction is the plain one


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_any_number_of_classes_and_strokes_are_hard_constraints(n_classes):
    rng = np.random.default_rng(n_classes)
    truth = np.repeat(np.arange(n_classes), 12)[None, :].repeat(20, 0)  # vertical bands
    image = truth[None].astype(np.float32) + rng.normal(0, 0.1, (1, *truth.shape)).astype(np.float32)
    targets = np.full(truth.shape, -1)
    targets[10, ::12] = np.arange(n_classes)  # one pixel per class
    targets[0, 5] = (truth[0, 5] + 1) % n_classes  # a stroke that contradicts the image
    labels, weight, bias = spatial_readout(image, image, targets, n_classes)
    assert labels.shape == truth.shape and set(np.unique(labels)) <= set(range(n_classes))
    painted = targets >= 0
    np.testing.assert_array_equal(labels[painted], targets[painted])
    assert (labels == truth).mean() > 0.95
    assert weight.shape == (n_classes, 1) and bias.shape == (n_classes,)


def test_graph_cut_without_smoothness_is_the_per_pixel_minimum():
    rng = np.random.default_rng(0)
    costs = rng.random((4, 8, 9))
    weights = contrast_weights(rng.random((3, 8, 9)))
    np.testing.assert_array_equal(graph_cut(costs, weights, np.full((8, 9), -1), 0.0), costs.argmin(0))


def test_alpha_expansion_lowers_the_energy_of_noisy_costs():
    rng = np.random.default_rng(1)
    truth = (np.arange(30)[:, None] // 10 + np.zeros((1, 30), int)).astype(int)  # three horizontal bands
    costs = rng.random((3, 30, 30)) + 0.6 * (np.arange(3)[:, None, None] != truth[None])
    weights = (np.ones((30, 29)), np.ones((29, 30)))

    def energy(labels):
        unary = np.take_along_axis(costs, labels[None], 0).sum()
        return unary + (labels[:, 1:] != labels[:, :-1]).sum() + (labels[1:] != labels[:-1]).sum()

    labels = graph_cut(costs, weights, np.full((30, 30), -1), 1.0)
    assert energy(labels) < energy(costs.argmin(0))
    assert (labels == truth).mean() > (costs.argmin(0) == truth).mean()


def test_discriminant_weights_and_missing_classes():
    features = np.array([[0.0, 0.1, 1.0, 1.1]])
    weight, bias = fit_discriminant(features, np.array([0, 0, 1, 1]), 3)
    scores = weight @ features + bias[:, None]
    np.testing.assert_array_equal(scores.argmax(0), [0, 0, 1, 1])
    assert np.isneginf(bias[2])
    weighted, _ = fit_discriminant(features, np.array([0, 0, 1, 1]), 2, sample_weight=np.array([1, 1, 1, 3.0]))
    assert not np.allclose(weighted, weight[:2])


def test_mismatched_shapes_are_refused():
    with pytest.raises(ValueError, match="share height and width"):
        spatial_readout(np.zeros((2, 8, 8)), np.zeros((1, 8, 9)), np.full((8, 8), -1), 2)


def test_reached_share_is_the_smallest_painted_share_of_a_class():
    labels = np.zeros((10, 20), int)
    labels[:, 10:] = 1
    labels[2:4, 2:4] = 1  # a separate, unpainted object of class 1 (4 of its 104 pixels)
    targets = np.full(labels.shape, -1)
    targets[5, 5] = 0
    targets[5, 15] = 1
    assert reached_share(labels, targets, 2) == pytest.approx(100 / 104)
    targets[5, 15] = -1
    targets[2, 2] = 1  # now only the small object is painted
    assert reached_share(labels, targets, 2) == pytest.approx(4 / 104)


def test_many_separate_objects_follow_strokes_on_a_few_of_them():
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:96, :96]
    discs = np.zeros((96, 96), int)
    for i, (y, x) in enumerate((y, x) for y in range(12, 96, 24) for x in range(12, 96, 24)):
        discs[(rows - y) ** 2 + (cols - x) ** 2 <= 5**2] = i + 1
    image = (discs > 0).astype(np.float32)[None] + rng.normal(0, 0.1, (1, 96, 96)).astype(np.float32)
    targets = np.full(discs.shape, -1)
    targets[11:14, 11:14] = 0  # two of the sixteen nuclei
    targets[35:38, 35:38] = 0
    targets[0, :] = 1  # background
    labels, _, _ = spatial_readout(image, image, targets, 2)
    assert all((labels[discs == i] == 0).mean() > 0.9 for i in range(1, 17))
    assert (labels[discs == 0] == 1).mean() > 0.95
