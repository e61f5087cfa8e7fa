"""The widget's progress, figures and status sentences, in a real (headless) napari viewer."""

from __future__ import annotations

import re

import numpy as np
import pytest
from test_widget import TIMEOUT_MS
from test_widget import two_region_image as two_regions

pytest.importorskip("napari")
pytestmark = pytest.mark.gui


def open_widget(viewer):
    dock, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    widget.max_iter.value = 4
    return dock, widget


def record_figures(widget) -> list[str]:
    """The figures the running job reports, in order."""
    figures: list[str] = []
    report = widget.status_panel.report

    def recording(done: int, total: int, text: str) -> None:
        figures.append(text)
        report(done, total, text)

    widget.status_panel.report = recording
    return figures


def wait_idle(widget, qtbot):
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)


def test_progress_and_figures_show_in_the_widget_during_a_run(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, widget = open_widget(viewer)
    viewer.add_image(two_regions((48, 48)), name="cells")
    assert not widget.status_panel.showing_progress
    widget.max_iter.value = 100_000
    widget.min_labels.value = 1  # never reached: only Cancel ends this run
    widget.run()
    assert widget.status_panel.showing_progress
    assert widget.status.value == "Segmenting 'cells'…"
    qtbot.waitUntil(lambda: widget.progress.value >= 2, timeout=TIMEOUT_MS)
    assert widget.progress.max == 100_000
    assert re.fullmatch(r"Iteration \d+ of 100000 · \d+ labels? · loss \d+\.\d{3}", widget.figures.value)
    widget.run_button.clicked.emit()  # Cancel
    wait_idle(widget, qtbot)
    assert not widget.status_panel.showing_progress
    assert re.fullmatch(r"Cancelled after \d+ iterations; .*", widget.status.value)


def test_a_finished_run_says_what_it_made_in_a_sentence(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, widget = open_widget(viewer)
    viewer.add_image(np.stack([two_regions(seed=z) for z in range(3)]), name="stack")
    viewer.dims.set_point(0, 2)
    widget.run()
    wait_idle(widget, qtbot)
    n_labels = np.unique(viewer.layers["stack segmentation"].data[2]).size
    pattern = rf"{n_labels} labels? after \d+ iterations? \(\d+\.\d s\) in slice 2 of 'stack segmentation'"
    assert re.fullmatch(pattern, widget.status.value), widget.status.value


def test_refine_reports_the_classes_of_its_output(make_napari_viewer, qtbot):
    """The network still separates more pseudo-labels than the two painted classes the output holds."""
    viewer = make_napari_viewer()
    _, widget = open_widget(viewer)
    rng = np.random.default_rng(0)
    image = np.zeros((48, 48), np.float32)
    image[:, 16:32], image[:, 32:] = 0.5, 1.0  # three bands, only two of them painted
    viewer.add_image(image + rng.normal(0, 0.05, image.shape).astype(np.float32), name="bands")
    widget.min_labels.value = 1  # Refine runs all its iterations
    widget.correction.value = "train"
    widget.run()
    wait_idle(widget, qtbot)
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["bands scribbles"]
    scribbles.data[10:14, 2:12] = 1
    scribbles.data[30:34, 36:46] = 2
    widget.refine_iter.value = 6
    figures = record_figures(widget)
    widget.refine()
    assert widget.status.value == "Refining 'bands segmentation' with your scribbles…"
    wait_idle(widget, qtbot)
    iteration_figures = [f for f in figures if f.startswith("Iteration")]
    assert iteration_figures and all(" · 2 labels · " in f for f in iteration_figures), figures
    out = viewer.layers["bands segmentation"].data
    assert set(np.unique(out)) == {1, 2}
    assert re.fullmatch(
        r"2 labels after \d+ refine iterations? \(\d+\.\d s\) in 'bands segmentation'", widget.status.value
    )


def test_all_slices_shows_training_then_slices(make_napari_viewer, qtbot):
    pytest.importorskip("napari_diffseg.stack")
    viewer = make_napari_viewer()
    _, widget = open_widget(viewer)
    viewer.add_image(np.stack([two_regions(seed=z) for z in range(3)]), name="stack")
    widget.mode.value = "All slices"
    figures = record_figures(widget)
    widget.run()
    assert widget.status.value == "Segmenting all 3 slices of 'stack'…"
    wait_idle(widget, qtbot)
    assert any(f.startswith("Training: iteration 1 of 4 · ") for f in figures), figures
    assert figures[-1] == "Labelled 3 of 3 slices", figures
    n_labels = np.unique(viewer.layers["stack segmentation"].data).size
    pattern = rf"{n_labels} labels? in 3 slices after \d+ iterations? \(\d+\.\d s\) in 'stack segmentation'"
    assert re.fullmatch(pattern, widget.status.value), widget.status.value


def test_a_long_status_wraps_without_widening_the_dock(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    dock, widget = open_widget(viewer)
    qtbot.wait(50)
    width = dock.width()
    caption_texts = [
        child.value for child in _labels_of(widget) if child.value.strip().lower() in ("status", "figures", "progress")
    ]
    assert caption_texts == []  # no bare captions beside the status area
    long_word = "a_file_name_without_any_space_" * 8
    widget.status_panel.say("A status sentence long enough to need several lines in the dock, " * 6 + long_word)
    widget.status_panel.begin("Segmenting 'a layer with a rather long name'…", 10)
    widget.status_panel.report(3, 10, "Iteration 3 of 10 · 12 labels · loss 0.123 " * 4)
    qtbot.wait(50)
    assert dock.width() == width
    assert widget.status.native.height() > widget.status.native.fontMetrics().height()  # it wrapped


def _labels_of(container):
    from magicgui.widgets import Label

    for child in container:
        if isinstance(child, Label):
            yield child
        if hasattr(child, "_label_widget"):
            yield child._label_widget
        if hasattr(child, "__iter__"):
            yield from _labels_of(child)


def test_the_widget_labels_a_stack_as_the_library_does(make_napari_viewer, qtbot, monkeypatch):
    """All slices with the widget's defaults equals ``segment_stack`` with the library's defaults.

    Torch sums in an order that depends on its thread count, so a run with another thread
    count trains differently: the widget's "auto" threads are the library's default.
    """
    torch = pytest.importorskip("torch")
    from napari_diffseg import segment_stack

    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # not the widget's old default of cores - 1 on a 2-core machine
    try:
        viewer = make_napari_viewer()
        _, widget = open_widget(viewer)
        rng = np.random.default_rng(3)
        stack = (np.stack([two_regions((40, 40), seed=z) for z in range(4)]) + rng.normal(0, 0.2, (4, 40, 40))).astype(
            np.float32
        )
        viewer.add_image(stack, name="stack")
        widget.mode.value = "All slices"
        widget.max_iter.value = 6
        widget.run()
        wait_idle(widget, qtbot)
        expected = segment_stack(stack, axis=0, max_iter=6)
        np.testing.assert_array_equal(viewer.layers["stack segmentation"].data, expected)
    finally:
        torch.set_num_threads(threads)
