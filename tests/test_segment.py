"""segment(): quality on synthetic images with known truth, every input kind, every bad input."""

import numpy as np
import pytest
import torch
from conftest import best_iou, piecewise_rgb, region_truth

from napari_diffseg import segment

QUICK = {"max_iter": 15}


def test_fast_preset_recovers_every_region_of_an_rgb_image(truth, rgb_image):
    labels = segment(rgb_image)
    ious = [best_iou(truth == region, labels) for region in range(4)]
    assert min(ious) >= 0.9, f"IoU per region: {np.round(ious, 3)}"


def test_fast_preset_recovers_every_region_of_a_16bit_grayscale_image(truth):
    rng = np.random.default_rng(1)
    regions = truth % 3
    ramp = np.linspace(0, 3000, truth.shape[1])[None, :]
    image = np.array([1000.0, 20000.0, 40000.0])[regions] + ramp + rng.normal(0, 1500, truth.shape)
    labels = segment(image.clip(0, 65535).astype(np.uint16))
    ious = [best_iou(regions == region, labels) for region in range(3)]
    assert min(ious) >= 0.9, f"IoU per region: {np.round(ious, 3)}"


def texture_halves(size: int = 48, seed: int = 0) -> np.ndarray:
    """Left half flat grey, right half vertical stripes: identical mean, different texture."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size), 128.0)
    stripes = np.where(np.arange(size) % 4 < 2, 78.0, 178.0)
    image[:, size // 2 :] = stripes[size // 2 :]
    return (image + rng.normal(0, 4, image.shape)).clip(0, 255).astype(np.uint8)


def test_scribbled_ids_survive_and_separate_regions_of_equal_mean_by_texture():
    image = texture_halves()
    assert abs(image[:, :24].mean() - image[:, 24:].mean()) < 2
    scribbles = np.zeros(image.shape, np.uint8)
    scribbles[8:40, 10] = 2
    scribbles[8:40, 36:38] = 7
    labels = segment(image, scribbles)
    assert set(np.unique(labels)) == {2, 7}
    assert (labels[:, 2:22] == 2).mean() >= 0.9
    assert (labels[:, 26:46] == 7).mean() >= 0.9


def test_same_seed_gives_identical_labels(small_rgb):
    first = segment(small_rgb, seed=3, **QUICK)
    assert np.array_equal(first, segment(small_rgb, seed=3, **QUICK))


def test_unsupervised_labels_are_sequential_from_one(small_rgb):
    labels = segment(small_rgb, max_iter=3)
    ids = np.unique(labels)
    assert labels.dtype == np.uint16
    assert ids.tolist() == list(range(1, ids.size + 1))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64, bool])
def test_every_dtype_is_segmented(dtype):
    halves = region_truth(16, 16) % 2
    image = halves.astype(bool) if dtype is bool else (halves * 100 + 7).astype(dtype)
    labels = segment(image, **QUICK)
    assert labels.shape == (16, 16) and labels.dtype == np.uint16 and labels.min() >= 1


def test_negative_and_huge_intensities_are_fine():
    image = np.where(region_truth(16, 16) % 2, -1e9, 3e9)
    assert segment(image, **QUICK).min() >= 1


@pytest.mark.parametrize(
    ("image", "channel_axis"),
    [
        (np.zeros((16, 16, 3), np.uint8), None),
        (np.zeros((16, 16, 4), np.uint8), None),
        (np.zeros((5, 16, 16), np.uint16), 0),
        (np.zeros((16, 16, 2), np.float32), -1),
        (np.zeros((16, 5, 16), np.float32), 1),
    ],
)
def test_rgb_rgba_and_multichannel_images(image, channel_axis):
    rng = np.random.default_rng(0)
    image = (image + rng.integers(0, 50, image.shape)).astype(image.dtype)
    labels = segment(image, channel_axis=channel_axis, **QUICK)
    assert labels.shape == (16, 16)


def test_nan_and_inf_pixels_get_labels_and_never_zero():
    image = np.where(region_truth(16, 16) % 2, 10.0, 200.0)
    image[3, 3], image[5, 9], image[12, 1] = np.nan, np.inf, -np.inf
    labels = segment(image, **QUICK)
    assert labels.min() >= 1 and labels.shape == (16, 16)


def test_8x8_image_is_segmented():
    image = np.random.default_rng(0).random((8, 8))
    assert segment(image, **QUICK).shape == (8, 8)


@pytest.mark.parametrize("shape", [(7, 7), (1, 1)])
def test_images_below_8x8_are_refused(shape):
    with pytest.raises(ValueError, match="at least 8x8"):
        segment(np.zeros(shape))


@pytest.mark.parametrize("image", [np.zeros(16), np.zeros((2, 16, 16, 3)), np.zeros((5, 16, 16))])
def test_wrong_dimensionality_is_refused(image):
    with pytest.raises(ValueError, match=r"2D|channel_axis"):
        segment(image)


@pytest.mark.parametrize(
    ("scribbles", "message"),
    [
        (np.zeros((8, 8), int), "shape"),
        (-np.ones((16, 16), int), ">= 0"),
        (np.full((16, 16), 1.5), "integer class ids"),
        (np.full((16, 16), "a"), "unsupported scribbles dtype"),
    ],
)
def test_bad_scribbles_are_refused(scribbles, message):
    with pytest.raises((ValueError, TypeError), match=message):
        segment(np.zeros((16, 16)), scribbles)


def test_unknown_preset_and_parameter_are_refused():
    with pytest.raises(ValueError, match="unknown preset"):
        segment(np.zeros((16, 16)), preset="turbo")
    with pytest.raises(ValueError, match="unknown parameter"):
        segment(np.zeros((16, 16)), iterations=5)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_absent_device_is_a_value_error():
    with pytest.raises(ValueError, match="cuda"):
        segment(np.zeros((16, 16)), device="cuda")


def test_unknown_device_is_a_value_error():
    with pytest.raises(ValueError, match="unknown device"):
        segment(np.zeros((16, 16)), device="tpu")


@pytest.mark.parametrize("value", [0.0, 7.0, np.nan])
def test_constant_image_gives_one_label(value):
    labels = segment(np.full((16, 16), value), **QUICK)
    assert np.unique(labels).tolist() == [1]


def test_callback_sees_every_iteration_and_can_stop(small_rgb):
    seen = []

    def callback(progress):
        seen.append(progress.iteration)
        return progress.iteration < 3

    labels = segment(small_rgb, callback=callback, min_labels=1, max_iter=50)
    assert seen == [1, 2, 3]
    assert labels.shape == small_rgb.shape[:2]


def test_single_painted_class_leaves_the_rest_at_max_plus_one():
    halves = np.tile(np.arange(48) >= 24, (48, 1)).astype(int)
    image = piecewise_rgb(halves, noise=5.0)
    scribbles = np.zeros(halves.shape, np.uint8)
    scribbles[8:40, 8] = 5
    labels = segment(image, scribbles, max_iter=40)
    assert set(np.unique(labels)) == {5, 6}
    # Away from the image border and the boundary between the halves:
    assert (labels[4:-4, 4:20] == 5).mean() >= 0.9
    assert (labels[4:-4, 28:-4] == 6).mean() >= 0.9


def test_unpainted_keep_gives_unclaimed_clusters_ids_above_the_painted_ones(truth, rgb_image):
    scribbles = np.zeros(truth.shape, np.uint8)
    scribbles[20:70, 10] = 3
    scribbles[60:90, 80] = 9
    assigned = segment(rgb_image, scribbles, max_iter=40)
    kept = segment(rgb_image, scribbles, max_iter=40, unpainted="keep")
    assert set(np.unique(assigned)) == {3, 9}
    ids = set(np.unique(kept).tolist())
    assert {3, 9} <= ids and len(ids) > 2
    assert min(ids - {3, 9}) > 9
