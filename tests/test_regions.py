import itertools

import numpy as np
import pytest
from skimage.measure import label as connected_components

from napari_diffseg import Segmenter
from napari_diffseg.params import resolve_params
from napari_diffseg.regions import image_regions, majority_vote, refine_labels, split_by_regions


def test_majority_vote_gives_every_region_its_most_common_label():
    regions = np.array([[0, 0, 0, 1, 1, 1]] * 2)
    labels = np.array([[5, 5, 2, 3, 2, 2], [5, 2, 5, 3, 3, 3]], dtype=np.uint16)
    voted = majority_vote(labels, regions)
    assert voted.dtype == labels.dtype
    np.testing.assert_array_equal(voted, np.array([[5, 5, 5, 3, 3, 3]] * 2))


def test_majority_vote_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        majority_vote(np.zeros((4, 4), int), np.zeros((4, 5), int))


def test_image_regions_follow_an_edge():
    image = np.zeros((1, 40, 40), np.float32)
    image[:, :, 20:] = 1.0
    regions = image_regions(image, scale=50)
    assert regions.shape == (40, 40)
    assert not np.intersect1d(regions[:, :20], regions[:, 20:]).size  # no region crosses the edge


def test_region_vote_removes_speckle_inside_image_regions():
    rng = np.random.default_rng(0)
    image = np.zeros((64, 64, 3), np.uint8)
    image[:, 32:] = 200
    image = np.clip(image + rng.normal(0, 20, image.shape), 0, 255).astype(np.uint8)
    common = {"preset": "fast", "seed": 0, "device": "cpu", "max_iter": 10, "channels": 16}
    segmenter = Segmenter(**common, region_scale=200.0)
    segmenter.fit(image)
    voted = segmenter.labels()
    segmenter.set_params(region_scale=0.0)
    plain = segmenter.labels()  # the same network without the vote
    assert set(np.unique(voted)) <= set(np.unique(plain))
    assert connected_components(voted, connectivity=1).max() < connected_components(plain, connectivity=1).max()
    for half in (voted[:, 2:30], voted[:, 34:62]):
        assert np.bincount(half.ravel()).max() >= 0.95 * half.size  # one label per half, edges aside
    assert voted[0, 0] != voted[0, -1]


def test_negative_region_scale_is_refused():
    with pytest.raises(ValueError, match="region_scale must be a finite, non-negative number"):
        resolve_params("fast", region_scale=-1.0)


def test_unsupervised_runs_stop_at_unsupervised_max_iter_and_scribbled_runs_at_max_iter():
    rng = np.random.default_rng(1)
    image = rng.random((32, 32, 3))
    scribbles = np.zeros((32, 32), np.uint8)
    scribbles[4, 4:20], scribbles[28, 4:20] = 1, 2
    common = {"seed": 0, "device": "cpu", "channels": 8, "max_iter": 6, "unsupervised_max_iter": 2, "min_labels": 1}
    assert len(list(Segmenter(**common).train(image))) == 2
    assert len(list(Segmenter(**common).train(image, scribbles))) == 6
    assert len(list(Segmenter(**{**common, "max_iter": 1}).train(image))) == 1  # the lower bound applies


def test_invalid_unsupervised_max_iter_is_refused():
    with pytest.raises(ValueError, match="unsupervised_max_iter must be a positive integer or None"):
        resolve_params("fast", unsupervised_max_iter=0)


def test_large_images_get_regions_tile_by_tile():
    image = np.zeros((1, 1100, 40), np.float32)
    image[:, 500:, :] = 1.0
    regions = image_regions(image, scale=50)
    assert regions.shape == (1100, 40)
    assert np.unique(regions).size == regions.max() + 1  # ids 0..R-1
    assert not np.intersect1d(regions[:1024], regions[1024:]).size  # no region crosses the tile border


def test_split_by_regions_cuts_labels_along_region_borders_and_keeps_the_largest_piece_s_id():
    labels = np.array([[3, 3, 3, 5, 5, 5]] * 2, dtype=np.uint16)
    regions = np.array([[0, 0, 1, 1, 2, 2]] * 2)
    split = split_by_regions(labels, regions)
    assert split.dtype == np.uint16
    np.testing.assert_array_equal(split, np.array([[3, 3, 6, 7, 5, 5]] * 2))


def test_split_by_regions_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in shape"):
        split_by_regions(np.zeros((4, 4), int), np.zeros((4, 5), int))


def test_refine_labels_without_scales_returns_the_labels_and_with_a_split_respects_image_edges():
    image = np.zeros((1, 40, 40), np.float32)
    image[:, :, 20:] = 1.0
    labels = np.ones((40, 40), np.uint16)  # one cluster across the edge
    assert refine_labels(labels, image, region_scale=0.0, split_scale=0.0) is labels
    split = refine_labels(labels, image, region_scale=50.0, split_scale=50.0)
    assert np.unique(split).size == 2
    assert not np.intersect1d(split[:, :20], split[:, 20:]).size


def test_the_split_applies_to_unsupervised_labels_only():
    rng = np.random.default_rng(0)
    image = np.zeros((48, 48, 3), np.uint8)
    image[:, 16:32], image[:, 32:] = 100, 200  # three stripes: two channels cannot keep them apart
    image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
    stripes = (slice(None), slice(2, 14)), (slice(None), slice(18, 30)), (slice(None), slice(34, 46))
    common = {"preset": "fast", "seed": 0, "device": "cpu", "max_iter": 5, "channels": 2, "min_labels": 1}
    plain = Segmenter(**common, split_scale=0.0).fit(image).labels()
    split = Segmenter(**common, split_scale=100.0).fit(image).labels()
    shared = [
        np.intersect1d(labels[a], labels[b]).size for labels in (plain, split) for a, b in itertools.pairwise(stripes)
    ]
    assert sum(shared[:2]) > 0  # without the split a label spans two stripes
    assert sum(shared[2:]) == 0  # the split cuts it at the stripe edges
    scribbles = np.zeros((48, 48), np.uint8)
    scribbles[10, 4:12], scribbles[10, 36:44] = 1, 2
    with_strokes = [Segmenter(**common, split_scale=scale).fit(image, scribbles).labels() for scale in (0.0, 100.0)]
    np.testing.assert_array_equal(*with_strokes)


def test_negative_split_scale_is_refused():
    with pytest.raises(ValueError, match="split_scale must be a finite, non-negative number"):
        resolve_params("fast", split_scale=-1.0)
