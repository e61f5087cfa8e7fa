import numpy as np
import pytest
from skimage.measure import label as connected_components

from napari_diffseg import Segmenter
from napari_diffseg.params import resolve_params
from napari_diffseg.regions import image_regions, majority_vote


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
