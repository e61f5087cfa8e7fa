"""segment_stack: consistent ids across slices, both modes, layouts, callbacks and bad input."""

import numpy as np
import pytest
from stack_synthetic import QUICK, consistency, moving_objects, strokes

from napari_diffseg import segment_stack
from napari_diffseg.stack import (
    StackProgress,
    fill_fragments,
    find_fragments,
    match_ids,
    stack_layout,
    train_shared,
)


@pytest.fixture(scope="module")
def moving():
    return moving_objects()


@pytest.fixture(scope="module")
def quick_labels(moving):
    """Labels of the moving-objects stack from a quick shared run: the reference of other tests."""
    return segment_stack(moving[0], **QUICK)


def _assert_consistent(labels, truth, name):
    share, ious, ids = consistency(labels, truth)
    print(f"{name}: consistency {share:.3f}, IoU {ious}, ids {ids}")
    assert share >= 0.95
    assert len(set(ids.values())) == 3, "distinct objects must keep distinct ids"
    assert min(ious.values()) >= 0.8


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_unsupervised_shared_mode_keeps_each_object_on_one_id(seed):
    stack, truth = moving_objects(seed=seed, scale=2)
    labels = segment_stack(stack, device="cpu", threads=1, seed=seed)
    _assert_consistent(labels, truth, f"shared, no scribbles, seed {seed}")
    assert labels.dtype == np.uint16 and labels.shape == stack.shape


def test_shared_mode_with_scribbles_keeps_each_object_on_its_painted_id(moving):
    stack, truth = moving
    labels = segment_stack(stack, strokes(truth), device="cpu", threads=1)
    _assert_consistent(labels, truth, "shared, scribbles on the first and last slice")
    assert set(np.unique(labels)) == {1, 2, 3}


def test_the_consistency_score_rejects_a_constant_output(moving):
    share, ious, ids = consistency(np.ones(moving[1].shape, np.uint16), moving[1])
    assert share == 1.0 and (len(set(ids.values())) < 3 or min(ious.values()) < 0.8)


def test_independent_mode_matches_ids_to_the_previous_slice():
    stack, truth = moving_objects(seed=0, scale=2)
    labels = segment_stack(stack, mode="independent", device="cpu", threads=1)
    _assert_consistent(labels, truth, "independent, no scribbles, seed 0")


def test_independent_mode_keeps_painted_ids(moving):
    stack, truth = moving
    scribbles = strokes(truth, slices=(0,))
    labels = segment_stack(stack, scribbles, mode="independent", device="cpu", threads=1, max_iter=60)
    share, ious, ids = consistency(labels, truth)
    print(f"independent, scribbles on the first slice: consistency {share:.3f}, IoU {ious}")
    assert set(np.unique(labels[0])) <= {1, 2, 3}, "the painted slice keeps its painted ids"
    assert share >= 0.6 and len(set(ids.values())) == 3


def test_fragments_are_speckle_and_thin_bands_not_structures():
    rng = np.random.default_rng(0)
    labels = np.where(rng.random((64, 64)) < 0.5, 1, 2)  # one region split by noise into 1 and 2
    labels[10:40, 10:40] = 3  # a structure
    labels[9, 9:41] = labels[40, 9:41] = labels[9:41, 9] = labels[9:41, 40] = 4  # a band around it
    fragments = find_fragments([labels])
    assert fragments in ([1, 4], [2, 4]), "one half of the split region and the band are fragments"
    filled = fill_fragments(labels, fragments)
    assert set(np.unique(filled)) == {3, ({1, 2} - set(fragments)).pop()}
    assert np.array_equal(filled[10:40, 10:40], labels[10:40, 10:40]), "the structure stays"
    assert find_fragments([filled]) == [] and fill_fragments(filled, []) is filled


def test_merge_fragments_off_keeps_every_cluster():
    stack, _truth = moving_objects(seed=1, scale=2)
    merged = segment_stack(stack, **QUICK)
    kept = segment_stack(stack, merge_fragments=False, **QUICK)
    assert len(np.unique(kept)) > len(np.unique(merged))


def test_unsupervised_shared_run_is_reproducible_and_never_zero(moving, quick_labels):
    assert quick_labels.min() >= 1
    assert np.array_equal(segment_stack(moving[0], **QUICK), quick_labels)


def test_match_ids_carries_ids_over_and_gives_new_regions_new_ids():
    previous = np.zeros((10, 10), int) + 7
    previous[:, 5:] = 4
    current = np.ones((10, 10), int)
    current[:, 6:] = 2
    current[:2, :2] = 3  # a region with no partner left: the two partners are taken
    relabelled, next_id = match_ids(current, previous, next_id=8)
    assert relabelled[5, 0] == 7 and relabelled[5, 9] == 4 and relabelled[0, 0] == 8 and next_id == 9


def test_callback_reports_training_then_every_slice_and_can_cancel(moving):
    stack, _ = moving
    seen: list[StackProgress] = []
    labels = segment_stack(stack, callback=seen.append, **QUICK)
    training = [p for p in seen if p.phase == "train"]
    slices = [p for p in seen if p.phase == "label"]
    assert training and all(p.index is None and p.training.iteration >= 1 for p in training)
    assert [p.index for p in slices] == [(z,) for z in range(len(stack))]
    assert [p.done for p in slices] == list(range(1, len(stack) + 1))
    assert all(np.array_equal(p.labels, labels[z]) for z, p in enumerate(slices))

    stopped = segment_stack(stack, callback=lambda p: p.phase != "label" or p.done < 2, **QUICK)
    assert np.array_equal(stopped[:2], labels[:2]) and not stopped[2:].any()
    untrained = segment_stack(stack, callback=lambda p: False, **QUICK)
    assert not untrained.any()


def test_train_slices_pick_the_training_slices(moving, quick_labels):
    labels = segment_stack(moving[0], train_slices=[0, 7], **QUICK)
    assert labels.shape == quick_labels.shape and labels.min() >= 1


def test_nd_stack_with_channels_and_two_stack_axes(moving):
    stack, _ = moving
    multichannel = np.stack([stack, 1 - stack], axis=1).reshape(2, 4, 2, 48, 48)  # (T, Z, C, Y, X)
    labels = segment_stack(multichannel, axis=(0, 1), channel_axis=2, train_slices=[(0, 0), (1, 3)], **QUICK)
    assert labels.shape == (2, 4, 48, 48) and labels.min() >= 1
    rgb = np.repeat(stack[..., None], 3, axis=-1)  # a trailing axis of 3 is RGB
    assert segment_stack(rgb, **QUICK).shape == stack.shape


def test_train_shared_pads_images_of_different_sizes():
    rng = np.random.default_rng(0)
    model = train_shared([rng.random((20, 30)), rng.random((32, 24))], device="cpu", max_iter=3)
    assert model.predict(rng.random((40, 40))).shape == (40, 40)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"axis": 3}, "out of range"),
        ({"axis": -4}, "out of range"),
        ({"axis": (0, 0)}, "twice"),
        ({"axis": 0, "channel_axis": 0}, "also a stack axis"),
        ({"axis": 1, "channel_axis": 5}, "out of range"),
        ({"train_slices": [8]}, "out of range"),
        ({"train_slices": [-1]}, "out of range"),
        ({"train_slices": []}, "empty"),
        ({"mode": "both"}, "mode must be"),
        ({"mode": "independent", "client": object()}, "use mode='shared'"),
        ({"mode": "independent", "save_model": "model.pt"}, "mode='shared'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(moving, kwargs, message):
    with pytest.raises(ValueError, match=message):
        segment_stack(moving[0], **kwargs, **QUICK)


def test_scribbles_of_another_shape_are_refused(moving):
    with pytest.raises(ValueError, match="scribbles have shape"):
        segment_stack(moving[0], np.zeros((8, 48, 40), np.uint8), **QUICK)


def test_a_4d_stack_along_one_axis_is_refused_with_a_hint():
    with pytest.raises(ValueError, match="every non-spatial axis"):
        stack_layout((2, 3, 16, 16), 0, None)
