"""Sample data: bundled or generated in code, with scribbles on the right structures."""

from __future__ import annotations

import numpy as np
import pytest

from napari_diffseg._sample_data import nuclei_stack, nuclei_stack_sample, tissue_sample, tissue_scribbles


def test_tissue_sample_has_image_and_matching_scribbles():
    (image, image_meta, image_kind), (scribbles, _, scribble_kind) = tissue_sample()
    assert (image_kind, scribble_kind) == ("image", "labels")
    assert image_meta["rgb"] and image.shape == (512, 512, 3)
    assert scribbles.shape == image.shape[:2]
    assert set(np.unique(scribbles)) == {0, 1, 2, 3}


def test_tissue_scribbles_lie_on_their_structures():
    from skimage.color import rgb2hed

    image = tissue_sample()[0][0]
    dab = rgb2hed(image)[..., 2]  # brown stain
    brightness = image.mean(axis=-1)
    scribbles = tissue_scribbles()
    gland, stroma, lumen = (scribbles == k for k in (1, 2, 3))
    assert dab[gland].mean() > 3 * dab[stroma].mean()  # stained gland vs unstained stroma
    assert brightness[lumen].mean() > brightness[stroma].mean() > brightness[gland].mean()


def test_nuclei_stack_is_reproducible_with_bright_nuclei():
    stack = nuclei_stack(shape=(6, 64, 64), n_nuclei=5, seed=3)
    assert stack.dtype == np.uint16 and stack.shape == (6, 64, 64)
    np.testing.assert_array_equal(stack, nuclei_stack(shape=(6, 64, 64), n_nuclei=5, seed=3))
    assert not np.array_equal(stack, nuclei_stack(shape=(6, 64, 64), n_nuclei=5, seed=4))
    background = np.percentile(stack, 50)
    assert stack.max() > 4 * background  # nuclei stand out from the background


def test_nuclei_stack_sample_is_anisotropic_3d():
    [(stack, meta, kind)] = nuclei_stack_sample()
    assert kind == "image" and stack.ndim == 3
    assert meta["scale"] == pytest.approx((2.0, 1.0, 1.0))


@pytest.mark.gui
def test_samples_open_from_the_menu(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-diffseg", "tissue")
    viewer.open_sample("napari-diffseg", "nuclei_stack")
    assert [layer.name for layer in viewer.layers] == ["tissue", "tissue scribbles", "nuclei stack"]
