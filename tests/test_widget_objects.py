"""The widget's Objects section in a real (headless) napari viewer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import three_discs

from napari_diffseg.objects import object_classes

pytest.importorskip("napari")
pytestmark = pytest.mark.gui

TIMEOUT_MS = 60_000


def discs() -> np.ndarray:
    """Every pixel labelled: 1 = background, 2 = three discs, the first two touching."""
    return three_discs().astype(np.uint16) + 1


@pytest.fixture
def viewer(make_napari_viewer):
    return make_napari_viewer()


@pytest.fixture
def widget(viewer):
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    return widget


@pytest.fixture
def errors(monkeypatch):
    import napari_diffseg._panels.objects as panel
    import napari_diffseg._widget as module

    shown: list[str] = []
    monkeypatch.setattr(module, "show_error", shown.append)
    monkeypatch.setattr("napari.utils.notifications.show_error", shown.append)
    assert panel  # imported so that its lazy notification import sees the patch
    return shown


def make_and_wait(widget, qtbot):
    widget.make_objects()
    qtbot.waitUntil(lambda: not widget.objects_panel.running, timeout=TIMEOUT_MS)


def test_make_objects_adds_a_labels_layer_with_features_and_leaves_the_segmentation(viewer, widget, qtbot, tmp_path):
    labels = discs()
    image = viewer.add_image(labels.astype(np.float32) * 100, name="cells", scale=(0.5, 0.5), units="um")
    segmentation = viewer.add_labels(labels.copy(), name="cells segmentation", scale=(0.5, 0.5), units="um")
    widget.pickers.image.value = image
    widget.objects_source.value = segmentation
    assert widget.object_classes.value == "2"  # the smaller of two classes
    make_and_wait(widget, qtbot)
    layer = viewer.layers["cells objects"]
    assert layer.data.max() == 3 and tuple(layer.scale) == (0.5, 0.5)
    assert layer.units == segmentation.units  # napari warns when layers' units differ
    features = layer.features
    assert list(features["label"]) == [1, 2, 3] and (features["class"] == 2).all()
    assert features["area_µm2"].iloc[2] == pytest.approx(np.pi * 10**2 * 0.25, rel=0.1)
    assert "intensity_mean" in features
    assert widget.status.value.startswith("3 objects")
    np.testing.assert_array_equal(segmentation.data, labels)
    np.testing.assert_array_equal(image.data, labels.astype(np.float32) * 100)
    widget.save_table(tmp_path / "objects.csv")
    assert list(pd.read_csv(tmp_path / "objects.csv")["label"]) == [1, 2, 3]


def test_a_segmentation_opened_before_the_widget_shows_its_default_classes(viewer):
    viewer.add_labels(discs(), name="seg")
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    assert widget.objects_source.value is viewer.layers["seg"]
    assert widget.object_classes.value == "2"


def test_split_touching_off_and_min_size_filter(viewer, widget, qtbot):
    labels = discs()
    labels[60:62, 2:4] = 2  # a 4-pixel speck
    viewer.add_labels(labels, name="seg")
    widget.objects_source.value = viewer.layers["seg"]
    widget.split_touching.value = False
    widget.object_min_size.value = "0"
    make_and_wait(widget, qtbot)
    assert viewer.layers["seg objects"].data.max() == 3  # touching pair, disc, speck
    widget.split_touching.value = True
    widget.object_min_size.value = ""
    make_and_wait(widget, qtbot)
    assert viewer.layers["seg objects"].data.max() == 3  # pair split, speck dropped
    assert len([layer for layer in viewer.layers if layer.name == "seg objects"]) == 1


def test_a_radius_typed_in_replaces_the_measured_one(viewer, widget, qtbot):
    viewer.add_labels(discs(), name="seg")
    widget.objects_source.value = viewer.layers["seg"]
    widget.object_min_size.value = "0"
    widget.object_radius.value = "40"  # seeds at least 18 px apart: the touching pair (centres 17 px apart) stays one
    make_and_wait(widget, qtbot)
    assert viewer.layers["seg objects"].data.max() == 2
    widget.object_radius.value = ""  # measured: 10 px
    make_and_wait(widget, qtbot)
    assert viewer.layers["seg objects"].data.max() == 3


def test_all_slices_makes_objects_of_every_slice_and_this_slice_of_one(viewer, widget, qtbot):
    stack = np.stack([discs()] * 3)
    segmentation = viewer.add_labels(stack, name="stack")
    widget.objects_source.value = segmentation
    widget.mode.value = "All slices"
    make_and_wait(widget, qtbot)
    objects = viewer.layers["stack objects"]
    assert objects.data.shape == stack.shape and objects.data.max() == 9
    assert list(objects.features["slice"]) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    widget.mode.value = "This slice"
    viewer.dims.set_point(0, 1)
    make_and_wait(widget, qtbot)
    data = viewer.layers["stack objects"].data
    assert data[1].max() == 3 and not data[0].any() and not data[2].any()
    np.testing.assert_array_equal(segmentation.data, stack)


def test_bad_values_are_notified_in_widget_terms(viewer, widget, qtbot, errors):
    viewer.add_labels(discs(), name="seg")
    widget.objects_source.value = viewer.layers["seg"]
    widget.object_min_size.value = "tiny"
    widget.make_objects()
    assert errors and "'Min size' must be a number" in errors[-1]
    widget.object_min_size.value = ""
    widget.object_radius.value = "0"
    widget.make_objects()
    assert "'Radius' must be a number > 0 (or empty for automatic); got '0'" in errors[-1]
    widget.object_radius.value = ""
    widget.object_classes.value = "7"
    make_and_wait(widget, qtbot)
    assert "'Classes' [7]: no pixel of labels has id 7" in errors[-1]
    assert "seg objects" not in viewer.layers
    widget.save_table("never.csv")
    assert "press Make objects first" in errors[-1]


def test_objects_of_a_new_segmentation_once_a_run_has_made_it(viewer, widget, qtbot):
    viewer.add_image(discs().astype(np.float32), name="cells")
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["cells scribbles"]
    assert widget.objects_source.value is scribbles  # the only Labels layer so far
    scribbles.data[30:34, 60:76], scribbles.data[16:24, 16:24] = 1, 2
    widget.max_iter.value, widget.threads.value = 3, 1
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    segmentation = viewer.layers["cells segmentation"]
    assert widget.objects_source.value is segmentation
    assert widget.object_classes.value == str(object_classes(segmentation.data)[0])  # read once the run is over
    chosen = viewer.add_labels(discs(), name="other")
    widget.objects_source.value = chosen
    widget.object_classes.value = "1"
    widget.run()  # a later run updates its layer, and the choice stays
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert widget.objects_source.value is chosen
    assert widget.object_classes.value == "1"  # typed in: kept
