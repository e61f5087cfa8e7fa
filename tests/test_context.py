"""The context readout: responses read with their local means (pure core)."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from napari_diffseg import Segmenter
from napari_diffseg.context import (
    CONTEXT_MARGIN,
    CONTEXT_RADII,
    context_channels,
    context_features,
    context_scores,
    local_mean,
)
from napari_diffseg.network import padded_tile_responses, tile_responses


def test_local_mean_is_two_box_filters_with_the_border_replicated():
    values = torch.from_numpy(np.random.default_rng(0).normal(size=(2, 3, 40, 57)).astype(np.float32))
    for radius in CONTEXT_RADII:
        size = (1, 1, 2 * radius + 1, 2 * radius + 1)
        expected = ndimage.uniform_filter(
            ndimage.uniform_filter(values.numpy(), size, mode="nearest"), size, mode="nearest"
        )
        np.testing.assert_allclose(local_mean(values, radius).numpy(), expected, atol=1e-5)


def test_context_scores_equal_the_discriminant_on_the_features():
    rng = np.random.default_rng(1)
    response = torch.from_numpy(rng.normal(size=(1, 6, 30, 44)).astype(np.float32))
    features = context_features(response)
    assert features.shape == (1, context_channels(6), 30, 44)
    torch.testing.assert_close(features[:, :6], response)
    weight = torch.from_numpy(rng.normal(size=(3, context_channels(6))).astype(np.float32))
    bias = torch.tensor([0.5, -1.0, 0.0])
    expected = torch.einsum("kq,qhw->khw", weight, features[0]) + bias[:, None, None]
    torch.testing.assert_close(context_scores(response, weight, bias), expected, atol=1e-4, rtol=1e-4)


def test_tiles_with_the_margin_give_the_features_of_the_whole_image():
    torch.manual_seed(0)
    network = Segmenter(seed=0, max_iter=1).fit(np.random.default_rng(2).random((70, 90), np.float32)).network
    image = torch.from_numpy(np.random.default_rng(3).random((1, 1, 70, 90), np.float32))
    whole = context_features(next(tile_responses(network, image, 2, tile=128))[2])
    seen = torch.zeros(70, 90, dtype=torch.bool)
    for y, x, response, window in padded_tile_responses(network, image, 2, CONTEXT_MARGIN, tile=32):
        tile = context_features(response)[window]
        h, w = tile.shape[-2:]
        torch.testing.assert_close(tile, whole[..., y : y + h, x : x + w], atol=1e-4, rtol=1e-4)
        seen[y : y + h, x : x + w] = True
    assert seen.all()


def disc_and_sky() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A bright disc on a dark ground below a bright sky of the same grey: (image, disc mask, strokes)."""
    rng = np.random.default_rng(0)
    rows, cols = np.mgrid[:96, :96]
    disc = (rows - 68) ** 2 + (cols - 48) ** 2 <= 12**2
    image = np.where((rows < 36) | disc, 0.9, 0.1).astype(np.float32)
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    strokes = np.zeros(image.shape, np.uint8)
    strokes[66:71, 42:55] = 1  # in the disc
    strokes[10:14, 10:86] = 2  # the sky
    strokes[84:88, 10:30] = 2  # the dark ground
    return image, disc, strokes


def test_context_tells_a_bright_disc_from_a_bright_sky_of_the_same_grey():
    image, disc, strokes = disc_and_sky()
    labels = Segmenter(seed=0, max_iter=20, readout="context").fit(image, strokes).labels()
    found = labels == 1
    assert (found & disc).sum() / (found | disc).sum() >= 0.8
    assert (labels[:30] == 2).mean() >= 0.95  # the sky stays background


def test_context_readout_is_saved_and_predicts_like_the_trained_model(tmp_path):
    image, _, strokes = disc_and_sky()
    seg = Segmenter(seed=0, max_iter=10, readout="context").fit(image, strokes)
    labels = seg.labels()
    assert seg.readout is not None and seg.readout[0].shape == (2, context_channels(seg.params.channels))
    seg.save(tmp_path / "model.pt")
    loaded = Segmenter.load(tmp_path / "model.pt")
    np.testing.assert_array_equal(loaded.predict(image), seg.predict(image))
    np.testing.assert_array_equal(seg.predict(image), labels)


@pytest.mark.parametrize("readout", ["linear", "context"])
def test_a_correction_changes_only_the_region_its_stroke_lies_in(readout):
    image, _, strokes = disc_and_sky()
    seg = Segmenter(seed=0, max_iter=20, refine_iter=5, readout=readout).fit(image, strokes)
    before = seg.labels()
    corrected = strokes.copy()
    corrected[86:90, 70:90] = 2  # more dark ground, far from the sky
    list(seg.refine(corrected))
    after = seg.labels()
    np.testing.assert_array_equal(after[:36], before[:36])
    assert (after[corrected == 2] == 2).all()
