"""The paper preset reproduces the reference implementation's training, loss by loss.

The reference loop is written here from the method's description (ALGORITHM.md), not copied:
response r (H*W x q) of the network on the image / 255; pseudo-labels c = argmax_q r;

    L = CE(r, c) + (mean |r[y+1, x] - r[y, x]| + mean |r[y, x+1] - r[y, x]|)

and with scribbles (v = class of a painted pixel)

    L = CE over unpainted pixels (r, c) + 0.5 * CE over painted pixels (r, v) + continuity,

minimised by SGD (lr 0.1, momentum 0.9); training stops once the number of distinct c is at
most minLabels (3, or the number of scribbled classes). Both loops start from the same
weights, so their losses must agree iteration by iteration.
"""

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import piecewise_rgb, region_truth

from napari_diffseg import Segmenter
from napari_diffseg.preprocess import reference_scribbles

ITERATIONS = 5


def reference_training(network, image_uint8, reference_scribble=None, iterations=ITERATIONS, min_labels=3):
    """Our own transcription of the reference loop; returns losses and the final labels."""
    height, width, _ = image_uint8.shape
    data = torch.from_numpy(image_uint8.transpose(2, 0, 1).astype(np.float32) / 255.0)[None]
    q = network[-1].num_features
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1, momentum=0.9)
    if reference_scribble is not None:
        flat = torch.from_numpy(reference_scribble.reshape(-1).astype(np.int64))
        painted = flat != 255
        min_labels = len(np.unique(reference_scribble[reference_scribble != 255]))
    losses = []
    network.train()
    for _ in range(iterations):
        optimizer.zero_grad()
        response = network(data)[0].permute(1, 2, 0).reshape(-1, q)  # (H*W, q)
        target = response.detach().argmax(1)
        grid = response.reshape(height, width, q)
        continuity = (grid[1:] - grid[:-1]).abs().mean() + (grid[:, 1:] - grid[:, :-1]).abs().mean()
        if reference_scribble is None:
            loss = F.cross_entropy(response, target) + continuity
        else:
            loss = (
                F.cross_entropy(response[~painted], target[~painted])
                + 0.5 * F.cross_entropy(response[painted], flat[painted])
                + continuity
            )
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if len(torch.unique(target)) <= min_labels:
            break
    with torch.no_grad():
        final = network(data)[0].argmax(0).numpy()
    return losses, final


def same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """True when the two label images group pixels identically (ids may differ)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))


@pytest.fixture
def image():
    return piecewise_rgb(region_truth(20, 24), noise=20.0, seed=5)


def test_paper_preset_matches_the_reference_loss_without_scribbles(image):
    seg = Segmenter(preset="paper", seed=7, device="cpu", max_iter=ITERATIONS)
    steps = seg.train(image)
    network = copy.deepcopy(seg.network)  # freshly initialised weights
    ours = [progress.loss for progress in steps]
    reference, reference_labels = reference_training(network, image)
    assert len(ours) == len(reference) >= 3
    np.testing.assert_allclose(ours, reference, rtol=1e-4)
    # Final labels come from a train-mode forward pass, as in the reference.
    assert same_partition(seg.labels(), reference_labels)


def test_paper_preset_matches_the_reference_loss_with_scribbles(image):
    scribble = np.full(image.shape[:2], 255, np.uint8)
    scribble[3:17, 3] = 0
    scribble[3:17, 20] = 1
    seg = Segmenter(preset="paper", seed=11, device="cpu", max_iter=ITERATIONS)
    steps = seg.train(image, reference_scribbles(scribble))
    network = copy.deepcopy(seg.network)
    ours = [progress.loss for progress in steps]
    reference, _reference_labels = reference_training(network, image, scribble)
    assert len(ours) == len(reference) >= 3
    np.testing.assert_allclose(ours, reference, rtol=1e-4)
    # Scribbled classes 0 and 1 of the reference file come out as napari ids 1 and 2.
    labels = seg.labels()
    assert set(np.unique(labels)) <= {1, 2}
    assert labels[10, 3] == 1 and labels[10, 20] == 2
