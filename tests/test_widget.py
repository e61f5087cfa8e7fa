"""The dock widget in a real (headless) napari viewer: runs, cancel, refine, slices, errors."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

TIMEOUT_MS = 120_000


def two_region_image(shape=(32, 40), seed=0) -> np.ndarray:
    """Dark left half, bright right half, mild noise."""
    rng = np.random.default_rng(seed)
    image = np.zeros(shape, dtype=np.float32)
    image[..., shape[-1] // 2 :] = 1.0
    return image + rng.normal(0, 0.05, shape).astype(np.float32)


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def widget(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    widget.max_iter.value = 4
    return widget


@pytest.fixture
def notifications(monkeypatch):
    """Messages the widget shows through napari's notifications, by severity."""
    import napari_diffseg._jobs as jobs
    import napari_diffseg._widget as module

    shown: dict[str, list[str]] = {"error": [], "warning": [], "info": []}
    for kind in shown:
        for where in (module, jobs):
            if hasattr(where, f"show_{kind}"):
                monkeypatch.setattr(where, f"show_{kind}", shown[kind].append)
    return shown


def run_and_wait(widget, qtbot, method="run"):
    getattr(widget, method)()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)


def test_widget_opens_from_the_manifest_with_named_pickers(viewer, widget):
    from magicgui.widgets import Container

    from napari_diffseg._widget import SegmentationWidget

    assert isinstance(widget, SegmentationWidget) and isinstance(widget, Container)
    names = [w.name for w in _all_widgets(widget)]
    assert "image" in names and "scribbles" in names
    assert widget.image.name == "image" and widget.scribbles.name == "scribbles"
    buttons = [w.text for w in _all_widgets(widget) if type(w).__name__ == "PushButton"]
    assert [t for t in buttons if "Run" in t or "Segment" in t] == ["Run"]


def _all_widgets(container):
    for child in container:
        yield child
        if hasattr(child, "__iter__") and type(child).__name__ == "Container":
            yield from _all_widgets(child)


def test_run_writes_one_output_layer_and_undo_restores(viewer, widget, qtbot):
    data = two_region_image()
    image = viewer.add_image(data, name="cells", scale=(0.5, 2.0), translate=(3, 4), units=("um", "nm"))
    widget.image.value = image
    run_and_wait(widget, qtbot)
    assert [layer.name for layer in viewer.layers] == ["cells", "cells segmentation"]
    out = viewer.layers["cells segmentation"]
    assert out.data.shape == data.shape
    np.testing.assert_allclose(out.scale, image.scale)
    np.testing.assert_allclose(out.translate, image.translate)
    assert out.units == image.units
    assert out.data.min() >= 1  # every pixel labelled
    left, right = out.data[:, :16], out.data[:, 24:]
    assert np.bincount(left.ravel()).argmax() != np.bincount(right.ravel()).argmax()
    np.testing.assert_array_equal(image.data, data)  # the image is never modified
    first = out.data.copy()

    widget.seed.value = 1
    run_and_wait(widget, qtbot)
    assert len(viewer.layers) == 2  # the output layer is reused
    out.undo()
    np.testing.assert_array_equal(out.data, first)
    out.undo()
    assert not out.data.any()


def test_cancel_stops_and_button_reads_run_again(viewer, widget, qtbot):
    viewer.add_image(two_region_image((48, 48)), name="cells")
    widget.max_iter.value = 100_000
    widget.min_labels.value = 1  # never reached: only Cancel ends this run
    widget.run()
    assert widget.run_button.text == "Cancel"
    qtbot.waitUntil(lambda: widget.job is not None and widget.job.iterations >= 2, timeout=TIMEOUT_MS)
    widget.run_button.clicked.emit()  # Cancel
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert widget.run_button.text == "Run"
    assert widget.status.value.startswith("Cancelled after ")
    assert not widget.status_panel.showing_progress


def test_refine_after_painting_scribbles(viewer, widget, qtbot, notifications):
    image = viewer.add_image(two_region_image(), name="cells")
    widget.refine()
    assert notifications["warning"]  # refine before any run: says to press Run first
    run_and_wait(widget, qtbot)
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["cells scribbles"]
    assert widget.scribbles.value == scribbles
    assert scribbles.data.shape == image.data.shape
    scribbles.data[10:14, 4:14] = 5
    scribbles.data[18:22, 26:36] = 9
    before = scribbles.data.copy()
    widget.refine_iter.value = 6
    run_and_wait(widget, qtbot, "refine")
    out = viewer.layers["cells segmentation"]
    assert set(np.unique(out.data)) <= {5, 9}  # unpainted pixels take one of the painted ids
    assert np.mean(out.data[before == 5] == 5) > 0.9 and np.mean(out.data[before == 9] == 9) > 0.9
    np.testing.assert_array_equal(scribbles.data, before)  # scribbles are never modified


def test_refine_of_a_colour_image_refits_the_context_readout_without_training(viewer, widget, qtbot):
    import copy

    import torch
    from conftest import piecewise_rgb

    truth = np.zeros((32, 40), int)
    truth[:, 20:] = 1
    truth[20:, 20:] = 2
    viewer.add_image(piecewise_rgb(truth, noise=5.0), name="photo", rgb=True)
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["photo scribbles"]
    scribbles.data[4:28, 5], scribbles.data[4:16, 30] = 1, 2  # the bottom right region not painted yet
    widget.max_iter.value = 10
    widget.threads.value = 1
    run_and_wait(widget, qtbot)
    assert widget.readout.value == "auto" and widget.model.params.readout == "context"
    weights = copy.deepcopy(widget.model.network.state_dict())
    scribbles.data[24:28, 28:36] = 1  # a correction: the bottom right region is class 1
    painted = scribbles.data.copy()
    run_and_wait(widget, qtbot, "refine")
    out = viewer.layers["photo segmentation"].data
    assert np.mean(out[22:30, 24:38] == 1) > 0.9 and np.mean(out[4:16, 24:38] == 2) > 0.9
    state = widget.model.network.state_dict()
    assert all(torch.equal(weights[name], value) for name, value in state.items())  # no training
    assert widget.model.params.readout == "context"
    assert widget.status.value.startswith("2 labels after refitting the readout (")
    np.testing.assert_array_equal(scribbles.data, painted)


def test_scribble_readout_shows_the_presets_and_reaches_run_and_refine(
    viewer, widget, qtbot, notifications, monkeypatch
):
    from napari_diffseg import Segmenter, _runs
    from napari_diffseg.params import PRESETS

    assert widget.readout.value == PRESETS["fast"].readout
    assert "spatial: strokes spread along the image's edges by a graph cut" in widget.readout.tooltip
    widget.preset.value = "paper"  # labels with batch statistics: the network's own clusters only
    assert list(widget.readout.choices) == ["argmax"] and widget.readout.value == "argmax"
    widget.preset.value = "fast"  # sets every parameter to the preset's
    assert sorted(widget.readout.choices) == ["argmax", "auto", "context", "linear", "spatial"]
    widget.max_iter.value = 4
    data = two_region_image()
    viewer.add_image(data, name="cells")
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["cells scribbles"]
    scribbles.data[10:14, 4:14], scribbles.data[18:22, 26:36] = 5, 9
    painted = scribbles.data.copy()
    widget.threads.value = 1
    widget.readout.value = "argmax"
    run_and_wait(widget, qtbot)
    assert widget.model.params.readout == "argmax"
    widget.readout.value = "spatial"
    monkeypatch.setattr(_runs, "PREVIEW_EVERY_S", 1e9)  # no preview: the result alone, as the Python API's
    run_and_wait(widget, qtbot)
    assert widget.model.params.readout == "spatial"
    expected = Segmenter("fast", seed=0, device="cpu", readout="spatial", max_iter=4, threads=1)
    for _ in expected.train(data, painted):
        pass
    np.testing.assert_array_equal(viewer.layers["cells segmentation"].data, expected.labels())
    np.testing.assert_array_equal(scribbles.data, painted)  # scribbles are never modified

    widget.readout.value = "linear"  # Refine uses the readout shown
    run_and_wait(widget, qtbot, "refine")
    assert widget.model.params.readout == "linear" and not notifications["warning"]
    widget.preset.value = "paper"
    widget.max_iter.value = 4
    run_and_wait(widget, qtbot)
    widget.preset.value = "fast"
    widget.readout.value = "spatial"
    widget.refine()  # the paper preset's model cannot: one clear warning, nothing starts
    assert not widget.running
    assert notifications["warning"] == ["the model of the last Run cannot use Scribble readout 'spatial': press Run"]


def test_scribbles_default_to_a_matching_labels_layer(viewer, widget):
    viewer.add_labels(np.zeros((5, 5), dtype=np.uint8), name="other shape")
    assert widget.scribbles.value is None
    matching = viewer.add_labels(np.zeros((32, 40), dtype=np.uint8), name="strokes")
    image = viewer.add_image(two_region_image(), name="cells")
    widget.image.value = image
    assert widget.scribbles.value == matching


def test_scribbles_added_after_the_image_are_picked(viewer, widget):
    viewer.add_image(two_region_image(), name="cells")
    assert widget.scribbles.value is None
    strokes = viewer.add_labels(np.zeros((32, 40), dtype=np.uint8), name="strokes")
    assert widget.scribbles.value == strokes


def stack_viewer(viewer, n_slices=4):
    rng = np.random.default_rng(0)
    stack = np.stack([two_region_image(seed=z) for z in range(n_slices)]) + rng.normal(0, 0.01, (n_slices, 32, 40))
    return viewer.add_image(stack.astype(np.float32), name="stack", scale=(3.0, 1.0, 1.0))


def filled_slices(layer):
    return [bool(plane.any()) for plane in layer.data]


def test_run_writes_only_the_slice_shown(viewer, widget, qtbot):
    image = stack_viewer(viewer)
    viewer.dims.set_point(0, 2 * 3.0)  # world z = 6 is slice 2 (scale 3)
    run_and_wait(widget, qtbot)
    out = viewer.layers["stack segmentation"]
    assert out.data.shape == image.data.shape
    np.testing.assert_allclose(out.scale, (3.0, 1.0, 1.0))
    assert filled_slices(out) == [False, False, True, False]
    viewer.dims.set_point(0, 0.0)
    run_and_wait(widget, qtbot)
    assert filled_slices(out) == [True, False, True, False]


def test_switching_slice_and_layer_mid_run_keeps_the_target(viewer, widget, qtbot):
    stack_viewer(viewer)
    other = viewer.add_image(two_region_image(), name="other")
    widget.image.value = viewer.layers["stack"]
    widget.max_iter.value = 8
    widget.min_labels.value = 1
    viewer.dims.set_point(0, 3.0)  # slice 1
    widget.run()
    viewer.dims.set_point(0, 9.0)  # slice 3
    widget.image.value = other
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert filled_slices(viewer.layers["stack segmentation"]) == [False, True, False, False]
    assert "other segmentation" not in viewer.layers


def test_refine_refuses_another_slice(viewer, widget, qtbot, notifications):
    stack_viewer(viewer)
    viewer.dims.set_point(0, 3.0)  # slice 1
    run_and_wait(widget, qtbot)
    widget.new_scribbles.clicked.emit()
    viewer.layers["stack scribbles"].data[2, 5:9, 5:30] = 1
    viewer.dims.set_point(0, 6.0)  # slice 2
    widget.refine()
    assert not widget.running
    assert "slice 1 of 'stack'" in notifications["warning"][-1]


def test_deleting_a_layer_mid_run_cancels_cleanly(viewer, widget, qtbot, notifications):
    viewer.add_image(two_region_image((48, 48)), name="cells")
    widget.max_iter.value = 100_000
    widget.min_labels.value = 1
    widget.run()
    qtbot.waitUntil(lambda: widget.job is not None and widget.job.iterations >= 1, timeout=TIMEOUT_MS)
    viewer.layers.remove("cells segmentation")
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert [layer.name for layer in viewer.layers] == ["cells"]
    assert any("deleted" in message for message in notifications["warning"])

    widget.run()
    qtbot.waitUntil(lambda: widget.job is not None and widget.job.iterations >= 1, timeout=TIMEOUT_MS)
    viewer.layers.remove("cells")
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert widget.run_button.text == "Run"


def test_bad_inputs_give_notifications(viewer, widget, qtbot, notifications):
    widget.run()
    assert "no layers" in notifications["error"][-1]
    viewer.add_image(np.zeros((4, 4), dtype=np.float32), name="tiny")
    widget.run()
    assert "at least 8x8" in notifications["error"][-1]
    image = viewer.add_image(two_region_image(), name="cells")
    wrong = viewer.add_labels(np.zeros((10, 10), dtype=np.uint8), name="wrong")
    widget.image.value = image
    widget.scribbles.value = wrong
    widget.run()
    assert "shape" in notifications["error"][-1] and "New scribble layer" in notifications["error"][-1]
    assert not widget.running


def test_hand_edits_are_reported_and_restorable(viewer, widget, qtbot, notifications):
    viewer.add_image(two_region_image(), name="cells")
    run_and_wait(widget, qtbot)
    out = viewer.layers["cells segmentation"]
    out.data[0:5, 0:5] = 77  # a hand edit
    edited = out.data.copy()
    run_and_wait(widget, qtbot)
    assert any("Ctrl+Z" in message for message in notifications["info"])
    out.undo()
    np.testing.assert_array_equal(out.data, edited)


def test_all_slices_fills_every_slice_in_one_undo_step(viewer, widget, qtbot):
    pytest.importorskip("napari_diffseg.stack")
    stack_viewer(viewer)
    widget.mode.value = "All slices"
    run_and_wait(widget, qtbot)
    out = viewer.layers["stack segmentation"]
    assert filled_slices(out) == [True] * 4
    # one structure keeps its id across slices: the right halves share their majority id
    majority = {int(np.bincount(plane[:, 24:].ravel()).argmax()) for plane in out.data}
    assert len(majority) == 1
    out.undo()
    assert filled_slices(out) == [False] * 4


def test_two_layers_as_channels(viewer, widget, qtbot):
    first = viewer.add_image(two_region_image(seed=1), name="dapi")
    second = viewer.add_image(two_region_image(seed=2).T.copy().T, name="actin")
    widget.image.value = first
    assert list(widget.extra_channels.choices) == [second]
    widget.extra_channels.value = [second]
    run_and_wait(widget, qtbot)
    assert widget.model.in_channels == 2
    assert viewer.layers["dapi segmentation"].data.any()


def test_save_load_and_apply_to_another_layer(viewer, widget, qtbot, tmp_path):
    viewer.add_image(two_region_image(seed=1), name="train")
    target = viewer.add_image(two_region_image(seed=2)[::-1].copy(), name="target")
    widget.image.value = viewer.layers["train"]
    run_and_wait(widget, qtbot)
    path = tmp_path / "model.pt"
    widget.save_model(path)
    assert path.is_file()
    widget.load_model(path)
    widget.apply_to.value = target
    run_and_wait(widget, qtbot, "apply_model")
    labels = viewer.layers["target segmentation"].data
    assert labels.shape == target.data.shape
    assert np.bincount(labels[:, :16].ravel()).argmax() != np.bincount(labels[:, 24:].ravel()).argmax()


def test_the_file_buttons_ask_for_a_path_and_do_nothing_when_the_dialog_is_cancelled(
    make_napari_viewer, qtbot, tmp_path, monkeypatch
):
    from napari_diffseg._panels import ModelPanel

    answers = {"save": "", "load": ""}  # what the file dialogs return ('' = cancelled)
    monkeypatch.setattr(ModelPanel, "ask_save_path", lambda self, parent: answers["save"])
    monkeypatch.setattr(ModelPanel, "ask_load_path", lambda self, parent: answers["load"])
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    widget.max_iter.value = 4
    viewer.add_image(two_region_image(), name="cells")
    run_and_wait(widget, qtbot)
    trained = widget.model
    widget.save_model_button.clicked.emit()
    assert list(tmp_path.iterdir()) == []
    answers["save"] = answers["load"] = str(tmp_path / "model.pt")
    widget.save_model_button.clicked.emit()
    assert (tmp_path / "model.pt").is_file()
    widget.load_model_button.clicked.emit()
    assert widget.model is not trained and widget.model.params == trained.params


def test_painting_in_the_output_during_a_run_is_kept(viewer, widget, qtbot, notifications):
    viewer.add_image(two_region_image((48, 48)), name="cells")
    widget.max_iter.value = 100_000
    widget.min_labels.value = 1
    widget.run()
    out = viewer.layers["cells segmentation"]
    qtbot.waitUntil(lambda: out.data.any(), timeout=TIMEOUT_MS)  # the first live preview
    out.brush_size = 3
    out.paint([2, 2], 99)
    widget.run_button.clicked.emit()  # Cancel
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert out.data[2, 2] == 99
    assert any("kept" in message for message in notifications["info"])
    assert "kept the last preview in 'cells segmentation'" in widget.status.value


def test_a_lazy_stack_is_read_one_slice_per_run(viewer, widget, qtbot):
    da = pytest.importorskip("dask.array")

    class Recording:
        def __init__(self, data):
            self.data, self.reads = data, []
            self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim

        def __getitem__(self, key):
            self.reads.append(key)
            return self.data[key]

    source = Recording(np.stack([two_region_image(seed=z) for z in range(4)]))
    viewer.add_image(da.from_array(source, chunks=(1, 32, 40)), name="lazy")
    viewer.dims.set_point(0, 3)
    source.reads.clear()  # napari itself reads the slice it shows
    run_and_wait(widget, qtbot)
    assert source.reads and all(key[0] in (3, slice(3, 4)) for key in source.reads)
    assert filled_slices(viewer.layers["lazy segmentation"]) == [False, False, False, True]


def test_all_slices_can_be_cancelled(viewer, widget, qtbot):
    pytest.importorskip("napari_diffseg.stack")
    stack_viewer(viewer)
    widget.mode.value = "All slices"
    widget.max_iter.value = 100_000
    widget.min_labels.value = 1
    widget.run()
    qtbot.waitUntil(lambda: widget.job is not None and widget.job.iterations >= 2, timeout=TIMEOUT_MS)
    widget.run_button.clicked.emit()  # Cancel
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert widget.run_button.text == "Run" and widget.status.value.startswith("Cancelled")
    assert filled_slices(viewer.layers["stack segmentation"]) == [False] * 4  # cancelled while training


def test_closing_the_widget_mid_run_stops_the_run(viewer, qtbot):
    dock, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    viewer.add_image(two_region_image((48, 48)), name="cells")
    widget.max_iter.value = 100_000
    widget.min_labels.value = 1
    widget.run()
    qtbot.waitUntil(lambda: widget.job is not None and widget.job.iterations >= 1, timeout=TIMEOUT_MS)
    job = widget.job
    viewer.window.remove_dock_widget(dock)
    widget.native.deleteLater()  # what garbage collection of the closed widget leads to
    qtbot.waitUntil(lambda: widget.closed, timeout=TIMEOUT_MS)
    # The worker has ended by the time the widget is gone (Python may shut down next).
    assert job.finished
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    viewer.add_image(two_region_image(), name="more")  # no widget listens any more
    qtbot.wait(50)


def test_all_slices_keeps_thin_regions_when_asked(viewer, widget, qtbot):
    pytest.importorskip("napari_diffseg.stack")
    rng = np.random.default_rng(0)
    stack = np.zeros((3, 40, 48), np.float32)
    stack[:, :, 24:] = 1.0
    stack[:, :, 10:13] = 2.0  # a thin stripe, which gives thin boundary regions
    viewer.add_image(stack + rng.normal(0, 0.05, stack.shape).astype(np.float32), name="stripes")
    widget.mode.value = "All slices"
    counts = {}
    for keep in (False, True):
        widget.keep_fragments.value = keep
        run_and_wait(widget, qtbot)
        counts[keep] = np.unique(viewer.layers["stripes segmentation"].data).size
    assert counts[True] > counts[False]
