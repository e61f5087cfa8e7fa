"""The GUI stays responsive during a run: a 10 ms QTimer heartbeat keeps ticking.

Run with ``-s`` to see the figures: ``pytest -m slow -s tests/test_widget_responsiveness.py``.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

pytest.importorskip("napari")
pytestmark = [pytest.mark.gui, pytest.mark.slow]

TARGET_GAP_S = 0.100  # no gap longer, even on a busy machine
LIVE_GAP_S = 0.050  # Live mode's target for the gaps, met by 99% of them here (a shared machine stalls now and then)


class Heartbeat:
    """A 10 ms QTimer whose ticks show how long the GUI thread was busy between them."""

    def __init__(self) -> None:
        from qtpy.QtCore import QTimer

        self.ticks: list[float] = []
        self._timer = QTimer()
        self._timer.setInterval(10)
        self._timer.timeout.connect(lambda: self.ticks.append(time.perf_counter()))

    def start(self, qtbot) -> None:
        self._timer.start()
        qtbot.wait(100)

    def stop(self) -> None:
        self._timer.stop()

    def gaps(self, since: float) -> np.ndarray:
        """Seconds between consecutive ticks from ``since`` on."""
        return np.diff(np.array([since, *(t for t in self.ticks if t >= since)]))


def figures(gaps: np.ndarray) -> str:
    """``"412 heartbeat gaps: longest 31 ms, median 10 ms, 99th percentile 22 ms"``."""
    return (
        f"{gaps.size} heartbeat gaps: longest {1000 * gaps.max():.0f} ms, median {1000 * np.median(gaps):.0f} ms, "
        f"99th percentile {1000 * np.percentile(gaps, 99):.0f} ms"
    )


def heartbeat_gaps(widget, qtbot, method: str = "run") -> tuple[np.ndarray, float, float]:
    """Gaps between ticks of a 10 ms QTimer during a run started by ``widget.<method>()``.

    Returns the gaps after the click handler returned, the handler's own duration (it
    blocks the GUI once: the first run adds the output layer), and the run's duration.
    """
    heartbeat = Heartbeat()
    heartbeat.start(qtbot)
    start = time.perf_counter()
    getattr(widget, method)()
    started = time.perf_counter()
    qtbot.waitUntil(lambda: not widget.running, timeout=300_000)
    duration = time.perf_counter() - start
    heartbeat.stop()
    return heartbeat.gaps(started), started - start, duration


def photo_viewer(make_napari_viewer):
    """A viewer with a 481x321 photo (the size of the interactive targets) and the widget."""
    from skimage.data import astronaut
    from skimage.transform import resize

    viewer = make_napari_viewer()
    image = resize(astronaut(), (321, 481), preserve_range=True).astype(np.uint8)
    viewer.add_image(image, name="photo", rgb=True)
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    return viewer, widget


def trained_with_scribbles(make_napari_viewer, qtbot):
    """The photo after a Run with two classes of strokes: viewer, widget, scribble layer."""
    viewer, widget = photo_viewer(make_napari_viewer)
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["photo scribbles"]
    scribbles.data[20:26, 300:460] = 1  # sky
    scribbles.data[200:206, 100:200] = 2  # suit
    widget.max_iter.value = 20
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=300_000)
    return viewer, widget, scribbles


def test_heartbeat_during_a_run_on_a_481x321_image(make_napari_viewer, qtbot):
    _viewer, widget = photo_viewer(make_napari_viewer)
    widget.max_iter.value = 40
    widget.min_labels.value = 1
    qtbot.waitUntil(lambda: widget.warmed_up, timeout=60_000)  # imports done at opening
    gaps, click, duration = heartbeat_gaps(widget, qtbot)
    print(
        f"\nrun: {duration:.2f} s, click handler {1000 * click:.0f} ms, after it {figures(gaps)}, "
        f"threads {widget.threads.value}"
    )
    assert gaps.max() < TARGET_GAP_S


def test_refine_time_on_a_481x321_image(make_napari_viewer, qtbot):
    """The correction loop's latency (target: 0.8 s); prints the figure, checks the fix."""
    viewer, widget, scribbles = trained_with_scribbles(make_napari_viewer, qtbot)
    scribbles.data[120:126, 200:260] = 3  # face: a new class
    gaps, _click, duration = heartbeat_gaps(widget, qtbot, "refine")
    labels = viewer.layers["photo segmentation"].data
    print(
        f"\nrefine (corrections {widget.correction.value}, {widget.threads.value} threads): {duration:.2f} s; "
        f"{figures(gaps)}; new stroke labelled 3: {np.mean(labels[120:126, 200:260] == 3):.2f}"
    )
    assert 3 in labels
    assert gaps.max() < TARGET_GAP_S


def drag(layer, qtbot, points: np.ndarray, label: int) -> None:
    """Paint a stroke as napari's brush does: one undo step, a paint position per mouse move
    (the event loop runs between moves, ~60 per second), the ``paint`` event at the release."""
    layer.selected_label = label
    with layer.block_history():
        for point in points:
            layer.paint(tuple(point), label)
            qtbot.wait(15)


@pytest.mark.parametrize("readout", ["auto", "linear", "context", "spatial"])
def test_heartbeat_in_live_mode_while_painting_on_a_481x321_image(make_napari_viewer, qtbot, readout):
    """Strokes, refinements after each and one queued during a refinement: the GUI keeps ticking."""
    viewer, widget, scribbles = trained_with_scribbles(make_napari_viewer, qtbot)
    output = viewer.layers["photo segmentation"]
    results: list[object] = []
    output.events.paint.connect(results.append)  # one undo step per refinement
    widget.readout.value = readout
    widget.live.value = True
    strokes = [
        (np.linspace((120, 200), (126, 260), 24).round().astype(int), 3),  # face: a new class
        (np.linspace((60, 40), (140, 60), 24).round().astype(int), 1),  # more background
        (np.linspace((250, 300), (300, 330), 24).round().astype(int), 2),  # more suit
    ]
    heartbeat = Heartbeat()
    heartbeat.start(qtbot)
    start = time.perf_counter()
    drag(scribbles, qtbot, *strokes[0])
    qtbot.waitUntil(lambda: widget.running, timeout=300_000)  # the first stroke's refinement
    for points, label in strokes[1:]:  # painted while it runs: queue the next one
        drag(scribbles, qtbot, points, label)
    assert widget.live_panel.scheduled
    painted = scribbles.data.copy()
    qtbot.waitUntil(lambda: not widget.running and not widget.live_panel.scheduled, timeout=300_000)
    duration = time.perf_counter() - start
    heartbeat.stop()
    gaps = heartbeat.gaps(start)
    print(
        f"\nlive ({readout} readout, {len(strokes)} strokes, {len(results)} refinements, corrections "
        f"{widget.correction.value}, threads {widget.threads.value}): {duration:.2f} s; {figures(gaps)}"
    )
    assert 2 <= len(results) <= len(strokes)  # strokes painted during a refinement share the next one
    assert output.data[123, 230] == 3
    np.testing.assert_array_equal(scribbles.data, painted)  # the scribble layer is never modified
    assert np.percentile(gaps, 99) < LIVE_GAP_S and gaps.max() < TARGET_GAP_S
