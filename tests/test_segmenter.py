"""Segmenter: step-wise training, cancellation, refinement, prediction, persistence."""

import copy
import pathlib

import numpy as np
import pytest
import torch
from conftest import piecewise_rgb

from napari_diffseg import Progress, Segmenter
from napari_diffseg.progress import drive


def test_train_yields_progress_every_iteration(small_rgb):
    seg = Segmenter(seed=0, max_iter=4, min_labels=1)
    reports = list(seg.train(small_rgb))
    assert [p.iteration for p in reports] == [1, 2, 3, 4]
    assert all(isinstance(p, Progress) and p.max_iter == 4 and p.n_labels >= 1 for p in reports)
    assert all(np.isfinite(p.loss) for p in reports)
    assert seg.labels().shape == small_rgb.shape[:2]


def test_training_stops_at_the_label_floor(small_rgb):
    reports = list(Segmenter(seed=0, max_iter=50, min_labels=32).train(small_rgb))
    assert len(reports) == 1 and reports[0].n_labels <= 32


def test_stopping_the_generator_cancels_and_keeps_a_usable_model(small_rgb):
    seg = Segmenter(seed=0, max_iter=100, min_labels=1)
    for progress in seg.train(small_rgb):
        if progress.iteration == 2:
            break
    assert seg.labels().min() >= 1


def test_run_stops_when_the_callback_returns_false(small_rgb):
    seg = Segmenter(seed=0, max_iter=100, min_labels=1)
    last = drive(seg.train(small_rgb), lambda progress: progress.iteration < 5)
    assert last.iteration == 5


def test_warm_start_continues_from_the_current_weights(small_rgb):
    seg = Segmenter(seed=0, max_iter=5, min_labels=1).fit(small_rgb)
    trained = {k: v.clone() for k, v in seg.network.state_dict().items()}
    seg.train(small_rgb, warm_start=True)
    assert all(torch.equal(trained[k], v) for k, v in seg.network.state_dict().items())
    seg.train(small_rgb)
    assert not all(torch.equal(trained[k], v) for k, v in seg.network.state_dict().items())


def three_regions() -> tuple[np.ndarray, np.ndarray]:
    """A 48x48 image of three colour bands (left, middle, right) and its truth."""
    bands = np.tile(np.arange(48) // 16, (48, 1))
    return piecewise_rgb(bands, noise=5.0), bands


def band_strokes(shape: tuple[int, int], left: int, middle: int, right: int) -> np.ndarray:
    """One vertical stroke in each band of :func:`three_regions` (0: leave that band unpainted)."""
    scribbles = np.zeros(shape, np.uint8)
    scribbles[10:38, 6], scribbles[10:38, 24], scribbles[10:38, 40] = left, middle, right
    return scribbles


def test_refine_moves_a_region_to_the_newly_scribbled_class():
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 1, 2, 1)  # the right band at first the same class as the left
    seg = Segmenter(seed=0, max_iter=40, readout="linear", correction="train").fit(image, scribbles)
    before = seg.labels()
    assert (before[4:-4, 36:44] == 1).mean() >= 0.9

    scribbles[10:38, 40] = 3  # correction: the right band is a class of its own
    reports = list(seg.refine(scribbles))
    assert 1 <= len(reports) <= seg.params.refine_iter
    after = seg.labels()
    assert set(np.unique(after)) == {1, 2, 3}
    assert (after[4:-4, 36:44] == 3).mean() >= 0.9
    assert (after[4:-4, 4:12] == 1).mean() >= 0.9


def test_fast_preset_reads_colour_images_in_context_and_corrects_by_refitting_the_readout():
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 1, 2, 1)
    seg = Segmenter(seed=0, max_iter=40)
    assert (seg.params.readout, seg.params.correction) == ("auto", "refit")  # auto: chosen once the image is known
    seg.fit(image, scribbles)
    assert seg.params.readout == "context"
    seg.labels()

    weights = copy.deepcopy(seg.network.state_dict())
    anew = copy.deepcopy(seg)
    anew._readout.spatial.features = None  # without the features kept from the first labels
    scribbles[20:28, 38:42] = 1  # one more stroke of a painted class
    assert list(seg.refine(scribbles)) == []  # the readout is refitted, the network is not trained
    after = seg.labels()
    assert all(torch.equal(weights[name], value) for name, value in seg.network.state_dict().items())
    list(anew.refine(scribbles))
    assert np.array_equal(after, anew.labels())

    scribbles[10:38, 40] = 3  # a new class takes the right band
    assert list(seg.refine(scribbles)) == []
    labels = seg.labels()
    assert (labels[4:-4, 36:44] == 3).mean() >= 0.9
    assert (labels[4:-4, 4:12] == 1).mean() >= 0.9


def test_refit_corrections_over_the_memory_budget_compute_the_features_anew(monkeypatch):
    from napari_diffseg import readout

    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 1, 2, 1)
    seg = Segmenter(seed=0, max_iter=20).fit(image, scribbles)
    seg.labels()
    anew = copy.deepcopy(seg)
    scribbles[20:28, 38:42] = 1
    list(seg.refine(scribbles))
    kept = seg.labels()
    monkeypatch.setattr(readout, "KEPT_FEATURES_BYTES", 0)
    anew._readout.spatial.features = None
    list(anew.refine(scribbles))
    np.testing.assert_array_equal(anew.labels(), kept)
    assert anew._readout.spatial.features is None  # nothing kept beyond the budget


def test_auto_readout_reads_other_images_linearly():
    image, bands = three_regions()
    seg = Segmenter(seed=0, max_iter=10).fit(image.mean(-1), band_strokes(bands.shape, 1, 2, 1))
    assert seg.params.readout == "linear"
    seg = Segmenter(seed=0, max_iter=10).fit(np.moveaxis(image, -1, 0), None, channel_axis=0)
    assert seg.params.readout == "linear"  # three channels with an axis given: not a colour image
    seg.set_params(readout="auto")
    assert seg.params.readout == "linear"


def test_refit_corrections_train_when_the_readout_does_not_fit_the_strokes():
    image, bands = three_regions()
    scribbles = np.zeros(bands.shape, np.uint8)
    scribbles[10:38, 8] = 1  # one painted class: the network's clusters label the rest
    seg = Segmenter(seed=0, max_iter=10).fit(image, scribbles)
    scribbles[10:38, 24] = 1
    assert 1 <= len(list(seg.refine(scribbles))) <= seg.params.refine_iter
    scribbles[10:38, 40] = 2  # two classes: the readout is refitted
    assert list(seg.refine(scribbles)) == []


def test_refine_needs_a_trained_model():
    with pytest.raises(RuntimeError, match="train"):
        Segmenter().refine(None)


def test_predict_uses_running_statistics_in_eval_mode():
    image, _ = three_regions()
    seg = Segmenter(seed=0, max_iter=20, region_scale=0.0).fit(image)  # labels() alone has the region vote
    full = seg.predict(image)
    assert np.array_equal(full, seg.labels())
    # In eval mode a pixel's label depends only on its neighbourhood, not on the rest of
    # the image: a crop is labelled like the same pixels of the whole image (away from the
    # crop's border, which the 3x3 convolutions see as padding).
    crop = seg.predict(image[:, 8:40])
    np.testing.assert_array_equal(crop[:, 3:-3], full[:, 11:37])


def test_predict_labels_another_image_of_the_same_kind():
    image, bands = three_regions()
    other = piecewise_rgb(bands, noise=5.0, seed=9)
    seg = Segmenter(seed=0, max_iter=30).fit(image)
    assert np.mean(seg.predict(other) == seg.labels()) > 0.9


def test_predict_refuses_an_image_with_other_channels(small_rgb):
    seg = Segmenter(seed=0, max_iter=2).fit(small_rgb)
    with pytest.raises(ValueError, match="channel"):
        seg.predict(small_rgb[..., 0])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")
def test_absent_device_is_a_value_error():
    with pytest.raises(ValueError, match="cuda"):
        Segmenter(device="cuda")


def test_seed_must_be_an_integer():
    with pytest.raises(TypeError, match="seed"):
        Segmenter(seed=1.5)


def test_save_and_load_round_trip(tmp_path):
    image, _ = three_regions()
    seg = Segmenter(seed=4, max_iter=10, channels=16).fit(image)
    path = tmp_path / "model.pt"
    seg.save(path)
    loaded = Segmenter.load(path, device="cpu")
    assert loaded.params == seg.params and loaded.seed == 4
    np.testing.assert_array_equal(loaded.predict(image), seg.predict(image))


def test_save_and_load_keep_scribble_ids(tmp_path):
    image, bands = three_regions()
    scribbles = np.zeros(bands.shape, np.uint8)
    scribbles[10:38, 6], scribbles[10:38, 40] = 4, 9
    seg = Segmenter(seed=0, max_iter=10).fit(image, scribbles)
    seg.save(tmp_path / "model.pt")
    predicted = Segmenter.load(tmp_path / "model.pt").predict(image)
    assert set(np.unique(predicted)) <= {4, 9}


def test_loading_a_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        Segmenter.load(tmp_path / "absent.pt")


@pytest.mark.parametrize(
    "content",
    [b"not a model at all", b"PK\x03\x04" + bytes(100)],
)
def test_loading_a_corrupt_file_is_a_value_error(tmp_path, content):
    path = tmp_path / "model.pt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a napari-diffseg model"):
        Segmenter.load(path)


def test_loading_a_foreign_torch_file_is_a_value_error(tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"state_dict": {"weight": torch.zeros(3)}}, path)
    with pytest.raises(ValueError, match="not a napari-diffseg model"):
        Segmenter.load(path)


class _Payload:
    """Unpickling this object would create a file: proof that code from the file ran."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_loading_never_executes_code_from_the_file(tmp_path):
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"meta": "{}", "weights": _Payload(marker)}, path)
    with pytest.raises(ValueError):
        Segmenter.load(path)
    assert not marker.exists()
    # The payload works when loaded unsafely, so the check above is meaningful.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_refine_stops_once_the_scribbles_are_labelled_right():
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 1, 2, 3)
    seg = Segmenter(seed=0, max_iter=40, correction="train").fit(image, scribbles)
    reports = list(seg.refine(scribbles))  # nothing new to learn
    assert len(reports) < seg.params.refine_iter


def test_refine_keeps_the_channels_of_existing_classes_when_a_smaller_id_is_added():
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 2, 7, 7)
    seg = Segmenter(seed=0, max_iter=40).fit(image, scribbles)
    channels_before = seg.scribble_ids.tolist()
    scribbles[10:38, 40] = 5  # a new class with an id between the existing ones
    list(seg.refine(scribbles))
    assert seg.scribble_ids.tolist()[:2] == channels_before == [2, 7]
    after = seg.labels()
    assert (after[4:-4, 4:12] == 2).mean() >= 0.9
    assert (after[4:-4, 20:28] == 7).mean() >= 0.9
    assert (after[4:-4, 36:44] == 5).mean() >= 0.9


@pytest.mark.parametrize("override", [{"refine_pixels": 10}, {"refine_lr": -1.0}, {"refine_pixels": 1.5}])
def test_bad_refine_parameters_are_refused(override):
    with pytest.raises(ValueError, match=next(iter(override))):
        Segmenter(**override)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_a_new_class_takes_over_the_unclaimed_cluster_of_its_stroke_at_once(seed):
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 1, 2, 0)  # the right band stays unpainted: a cluster of its own
    seg = Segmenter(seed=seed, max_iter=40, min_labels=3, refine_iter=0).fit(image, scribbles)
    scribbles[10:38, 40] = 3
    assert list(seg.refine(scribbles)) == []  # no training: only the hand-over
    after = seg.labels()
    assert (after[4:-4, 36:44] == 3).mean() >= 0.9
    assert (after[4:-4, 4:12] == 1).mean() >= 0.9
    assert (after[4:-4, 20:28] == 2).mean() >= 0.9


def test_linear_readout_is_fitted_on_the_strokes_saved_and_reused(tmp_path):
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 2, 7, 7)
    seg = Segmenter(seed=0, max_iter=20, readout="linear").fit(image, scribbles)
    labels = seg.labels()
    assert seg.readout is not None and seg.readout[0].shape == (2, seg.params.channels)
    painted = scribbles > 0
    assert (labels[painted] == scribbles[painted]).mean() >= 0.99
    path = tmp_path / "model.pt"
    seg.save(path)
    loaded = Segmenter.load(path)
    assert loaded.readout is not None
    np.testing.assert_array_equal(loaded.predict(image), seg.predict(image))


def test_spatial_readout_keeps_strokes_and_refines_without_training():
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 2, 7, 7)
    seg = Segmenter(seed=0, max_iter=20, refine_iter=0, readout="spatial").fit(image, scribbles)
    labels = seg.labels()
    painted = scribbles > 0
    np.testing.assert_array_equal(labels[painted], scribbles[painted])
    weights = [p.detach().clone() for p in seg.network.parameters()]
    corrected = scribbles.copy()
    corrected[2:4, 2:4] = 9  # a new class
    assert list(seg.refine(corrected)) == []
    after = seg.labels()
    assert set(np.unique(after)) <= {2, 7, 9} and (after[2:4, 2:4] == 9).all()
    assert all(torch.equal(a, b) for a, b in zip(weights, seg.network.parameters(), strict=True))
    assert seg.predict(image).shape == labels.shape


def test_a_linear_correction_changes_only_the_region_its_stroke_lies_in():
    bands = np.tile(np.arange(48) // 16 % 2, (48, 1))  # left and right bands of the same colour
    image = piecewise_rgb(bands, noise=5.0)
    scribbles = band_strokes(bands.shape, 1, 2, 0)
    seg = Segmenter(seed=0, max_iter=30, refine_iter=10, readout="linear").fit(image, scribbles)
    before = seg.labels()
    assert (before[:, 36:] == 1).mean() >= 0.9  # the unpainted right band resembles the left one
    corrected = scribbles.copy()
    corrected[10:38, 40] = 2  # it is the middle band's class
    list(seg.refine(corrected))
    after = seg.labels()
    np.testing.assert_array_equal(after[:, :16], before[:, :16])  # the left band is left alone
    assert (after[corrected == 2] == 2).all()


def test_spatial_labels_looked_at_during_training_do_not_change_the_result():
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 2, 7, 7)
    corrected = scribbles.copy()
    corrected[2:4, 2:4] = 2

    def run(preview: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        seg = Segmenter(seed=0, max_iter=20, refine_iter=5, readout="spatial")
        shown = []
        for _ in seg.train(image, scribbles):
            if preview:
                shown.append(seg.labels())
        trained = seg.labels()
        for _ in seg.refine(corrected):
            if preview:
                shown.append(seg.labels())
        return trained, seg.labels(), np.stack(shown) if shown else np.zeros(0)

    trained, refined, _ = run(preview=False)
    trained_seen, refined_seen, previews = run(preview=True)
    np.testing.assert_array_equal(trained_seen, trained)
    np.testing.assert_array_equal(refined_seen, refined)
    assert not (previews[:3] == trained).all(axis=(1, 2)).any()  # the early previews differ from the result


def test_argmax_readout_uses_the_painted_channels_alone():
    image, bands = three_regions()
    scribbles = band_strokes(bands.shape, 1, 2, 0)  # the right band goes to a painted class
    linear = Segmenter(seed=0, max_iter=20, readout="linear").fit(image, scribbles)
    argmax = Segmenter(seed=0, max_iter=20, readout="argmax").fit(image, scribbles)
    for seg in (linear, argmax):
        labels = seg.labels()
        assert set(np.unique(labels)) == {1, 2}
        assert (labels[4:-4, 4:12] == 1).mean() >= 0.9 and (labels[4:-4, 20:28] == 2).mean() >= 0.9
    assert linear.readout is not None and argmax.readout is None


@pytest.mark.parametrize("seed", [0, 2])  # seeds where the painted channels' argmax gets it wrong
def test_linear_readout_gives_an_unpainted_region_the_class_it_resembles(seed):
    rng = np.random.default_rng(0)
    image = np.zeros((48, 48), np.float32)
    image[:, 16:32], image[:, 32:] = 0.95, 0.75  # dark | bright | a little less bright, unpainted
    image += rng.normal(0, 0.02, image.shape).astype(np.float32)
    scribbles = np.zeros(image.shape, np.uint8)
    scribbles[8:40, 6:10], scribbles[8:40, 22:26] = 1, 2
    labels = Segmenter(seed=seed, max_iter=20, min_labels=3).fit(image, scribbles).labels()
    assert (labels[4:-4, 36:44] == 2).mean() >= 0.95
    assert (labels[4:-4, 2:12] == 1).mean() >= 0.95


def test_linear_readout_needs_eval_final_forward():
    with pytest.raises(ValueError, match="readout"):
        Segmenter(preset="paper", readout="linear")
    with pytest.raises(ValueError, match="readout"):
        Segmenter(preset="fast", readout="linear", train_pixels=None)  # whole image: train-mode labels


def test_an_unsupervised_step_is_the_plain_loop_bit_for_bit(small_rgb):
    """Without scribbles a training step is exactly argmax pseudo-labels, the loss, one SGD step."""
    from napari_diffseg.losses import clustering_loss

    seg = Segmenter(seed=3, channels=8, train_pixels=None, max_iter=3, min_labels=1)
    steps = seg.train(small_rgb)
    next(steps)  # one step, so that momentum is not zero
    network = copy.deepcopy(seg.network)
    optimizer = torch.optim.SGD(network.parameters(), lr=seg.params.lr, momentum=seg.params.momentum)
    optimizer.load_state_dict(copy.deepcopy(seg._trainer.optimizer.state_dict()))
    next(steps)
    network.train()
    response = network(seg.image)
    p = seg.params
    loss = clustering_loss(
        response,
        response.detach().argmax(1),
        None,
        sim_weight=p.sim_weight,
        con_weight=p.con_weight,
        scribble_weight=p.scribble_weight,
    )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    for ours, plain in zip(seg.network.state_dict().values(), network.state_dict().values(), strict=True):
        assert torch.equal(ours, plain)
