"""Live mode of the dock widget in a real (headless) napari viewer: a refinement after every stroke."""

from __future__ import annotations

import numpy as np
import pytest
from test_widget import TIMEOUT_MS, two_region_image

pytest.importorskip("napari")
pytestmark = pytest.mark.gui


@pytest.fixture
def trained(make_napari_viewer, qtbot):
    """A viewer, its widget after one Run, the scribble layer, and a counter of results written."""
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    widget.max_iter.value = 4
    viewer.add_image(two_region_image(), name="cells")
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["cells scribbles"]
    scribbles.brush_size = 3
    output = viewer.layers["cells segmentation"]
    written: list[object] = []
    output.events.paint.connect(written.append)  # one undo step per result
    return viewer, widget, scribbles, output, written


def settled(widget) -> bool:
    return not widget.running and not widget.live_panel.scheduled


def test_live_refines_after_strokes_and_queues_one_painted_during_a_refinement(trained, qtbot):
    _, widget, scribbles, output, written = trained
    widget.live.value = True
    widget.refine_iter.value = 60
    scribbles.paint((12, 8), 5)  # two strokes in quick succession: one refinement
    scribbles.paint((20, 30), 9)
    assert not widget.running  # debounced: nothing starts while strokes come in
    qtbot.waitUntil(lambda: widget.running, timeout=TIMEOUT_MS)
    scribbles.paint((26, 6), 7)  # painting is not blocked during the refinement, and queues the next one
    assert scribbles.data[26, 6] == 7 and widget.live_panel.scheduled
    painted = scribbles.data.copy()
    qtbot.waitUntil(lambda: settled(widget), timeout=TIMEOUT_MS)
    assert len(written) == 2
    assert output.data[12, 8] == 5 and output.data[20, 30] == 9 and output.data[26, 6] == 7
    assert np.mean(output.data[:, 24:] == 9) > 0.9
    np.testing.assert_array_equal(scribbles.data, painted)  # the scribble layer is never modified
    output.undo()  # one undo step per refinement: the first refinement's result is back
    assert set(np.unique(output.data)) == {5, 9}


def test_without_live_a_stroke_starts_nothing(trained, qtbot):
    _, widget, scribbles, _, written = trained
    assert widget.live.value is False
    scribbles.paint((12, 8), 5)
    scribbles.paint((20, 30), 9)
    qtbot.wait(800)
    assert not widget.running and not widget.live_panel.scheduled and written == []
