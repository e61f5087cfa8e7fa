import numpy as np
import pytest

from napari_diffseg.preprocess import (
    channels_last,
    prepare_image,
    prepare_scribbles,
    reference_scribbles,
    rgb_to_lab,
)


def test_channel_guess_follows_napari():
    assert channels_last(np.zeros((9, 10)), None)[0].shape == (9, 10, 1)
    assert channels_last(np.zeros((9, 10, 3)), None)[1] is True
    assert channels_last(np.zeros((9, 10, 4)), None)[1] is True
    hwc, rgb = channels_last(np.zeros((5, 9, 10)), 0)
    assert hwc.shape == (9, 10, 5) and rgb is False


def test_ambiguous_3d_image_asks_for_channel_axis():
    with pytest.raises(ValueError, match="pass channel_axis"):
        channels_last(np.zeros((5, 9, 10)), None)


@pytest.mark.parametrize("shape", [(10,), (2, 3, 10, 10)])
def test_wrong_dimensionality_is_refused(shape):
    with pytest.raises(ValueError, match="expected a 2D image"):
        prepare_image(np.zeros(shape))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.float32, np.float64, bool])
def test_every_dtype_normalises_to_unit_range(dtype):
    rng = np.random.default_rng(0)
    values = rng.random((12, 12))
    image = (values > 0.5 if dtype is bool else values * 200).astype(dtype)
    data = prepare_image(image)
    assert data.dtype == np.float32 and data.shape == (1, 12, 12)
    assert data.min() >= 0.0 and data.max() <= 1.0
    assert data.max() > data.min()


def test_intensity_range_does_not_matter_with_percentile_normalisation():
    rng = np.random.default_rng(0)
    image = rng.random((16, 16))
    low = prepare_image((image * 100).astype(np.uint16))
    high = prepare_image((image * 60000).astype(np.uint16))
    assert np.abs(low - high).max() < 0.02


def test_reference_normalisation_divides_uint8_by_255():
    image = np.arange(64 * 3, dtype=np.uint8).reshape(8, 8, 3)
    data = prepare_image(image, normalization="reference")
    np.testing.assert_allclose(data, np.moveaxis(image, -1, 0) / 255.0, rtol=1e-6)


def test_alpha_is_dropped():
    assert prepare_image(np.zeros((8, 8, 4), np.uint8)).shape == (3, 8, 8)


def test_nonfinite_pixels_are_filled_with_finite_values():
    image = np.linspace(0, 1, 100).reshape(10, 10)
    image[0, 0], image[1, 1], image[2, 2] = np.nan, np.inf, -np.inf
    data = prepare_image(image)
    assert np.all(np.isfinite(data))


def test_all_nan_image_gives_zeros():
    assert np.all(prepare_image(np.full((8, 8), np.nan)) == 0)


@pytest.mark.parametrize("shape", [(7, 7), (1, 1), (8, 7)])
def test_images_below_8x8_are_refused(shape):
    with pytest.raises(ValueError, match="at least 8x8"):
        prepare_image(np.zeros(shape))


def test_complex_images_are_refused():
    with pytest.raises(TypeError, match="unsupported image dtype"):
        prepare_image(np.zeros((8, 8), complex))


def test_scribbles_map_ids_to_channels_in_sorted_order():
    scribbles = np.zeros((8, 8), np.uint8)
    scribbles[0, 0], scribbles[1, 1] = 7, 2
    mapped = prepare_scribbles(scribbles, (8, 8))
    assert mapped.ids.tolist() == [2, 7]
    assert mapped.targets[0, 0] == 1 and mapped.targets[1, 1] == 0
    assert (mapped.targets == -1).sum() == 62


def test_all_zero_scribbles_mean_unsupervised():
    assert prepare_scribbles(np.zeros((8, 8), int), (8, 8)).n_classes == 0
    assert prepare_scribbles(None, (8, 8)).n_classes == 0


def test_scribble_shape_is_checked_first():
    # Negative and mismatched: the shape message wins.
    with pytest.raises(ValueError, match="shape"):
        prepare_scribbles(-np.ones((4, 4), int), (8, 8))


def test_negative_scribbles_are_refused():
    with pytest.raises(ValueError, match=">= 0"):
        prepare_scribbles(-np.ones((8, 8), int), (8, 8))


def test_fractional_float_scribbles_are_refused():
    with pytest.raises(ValueError, match="integer class ids"):
        prepare_scribbles(np.full((8, 8), 0.5), (8, 8))
    assert prepare_scribbles(np.full((8, 8), 2.0), (8, 8)).ids.tolist() == [2]


def test_reference_scribbles_shift_classes_by_one_and_255_is_unlabeled():
    reference = np.full((8, 8), 255, np.uint8)
    reference[0, :2] = 0
    reference[1, :2] = 3
    napari = reference_scribbles(reference)
    assert napari[0, 0] == 1 and napari[1, 0] == 4 and napari[5, 5] == 0


def test_rgb_reference_scribbles_are_refused():
    with pytest.raises(ValueError, match="single-channel"):
        reference_scribbles(np.zeros((8, 8, 3), np.uint8))


def test_lab_conversion_equals_scikit_image():
    from skimage.color import rgb2lab

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    image[0, :3] = [[0, 0, 0], [255, 255, 255], [255, 0, 0]]
    np.testing.assert_allclose(rgb_to_lab(image), rgb2lab(image), atol=1e-3)
    # Other dtypes are stretched to [0, 1] first: exact when the percentiles are the extremes.
    unit = np.zeros((100, 100, 3), np.float32)
    unit[1:-1, 1:-1] = rng.random((98, 98, 3)) * 0.6 + 0.2
    unit[-1] = 1.0
    np.testing.assert_allclose(rgb_to_lab(unit * 40 + 7), rgb2lab(unit), atol=0.05)


def test_lab_colour_space_changes_rgb_images_only():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    lab = prepare_image(rgb, color_space="lab")
    assert lab.shape == (3, 16, 16) and lab.min() >= 0 and lab.max() <= 1
    assert np.abs(lab - prepare_image(rgb)).max() > 0.1
    # L* (channel 0) follows brightness: the brightest pixel has the largest L*.
    grey = np.repeat(np.linspace(0, 255, 256).astype(np.uint8).reshape(16, 16, 1), 3, axis=-1)
    assert np.all(np.diff(prepare_image(grey, color_space="lab")[0].ravel()) >= 0)
    channels = rng.random((3, 16, 16))
    np.testing.assert_array_equal(prepare_image(channels, 0, color_space="lab"), prepare_image(channels, 0))
    np.testing.assert_array_equal(prepare_image(rgb[..., 0], color_space="lab"), prepare_image(rgb[..., 0]))


def test_percentiles_of_large_images_come_from_an_even_sample():
    rng = np.random.default_rng(2)
    image = rng.normal(100, 20, (1024, 1024)).astype(np.float32)
    data = prepare_image(image)[0]
    lo, hi = np.percentile(image, [1, 99.8])
    exact = np.clip((image - lo) / (hi - lo), 0, 1)
    assert np.abs(data - exact).max() < 0.01
