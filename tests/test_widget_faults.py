# ruff: noqa: F811 - the widget fixtures are imported from test_widget and used as arguments
"""Faults in a real napari viewer: failing reads, refused runs, bad model files, long use.

Each fault ends in one notification; napari keeps running, the user's layers are untouched and
the previous result stays.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from test_widget import TIMEOUT_MS, notifications, run_and_wait, two_region_image, viewer, widget  # noqa: F401 - fixtures

from benchmarks.soak import history_mb, trimmed_rss_mb

pytest.importorskip("napari")
pytestmark = pytest.mark.gui


class FailingReads:
    """An array that raises OSError (a lost network drive, a corrupt chunk) when slice ``bad`` is read."""

    def __init__(self, data: np.ndarray, bad: int):
        self.data, self.bad = data, bad
        self.armed = False
        self.shape, self.dtype, self.ndim = data.shape, data.dtype, data.ndim

    def __getitem__(self, key):
        first = key[0] if isinstance(key, tuple) else key
        indices = range(*first.indices(self.shape[0])) if isinstance(first, slice) else [first]
        if self.armed and self.bad in indices:
            raise OSError(f"read error in slice {self.bad}")
        return self.data[key]


def test_an_image_that_fails_to_read_mid_run_ends_the_run_with_one_error(viewer, widget, qtbot, notifications):
    da = pytest.importorskip("dask.array")
    source = FailingReads(np.stack([two_region_image(seed=z) for z in range(4)]), bad=2)
    image = viewer.add_image(da.from_array(source, chunks=(1, 32, 40)), name="remote")
    run_and_wait(widget, qtbot)  # slice 0, while reads still work
    out = viewer.layers["remote segmentation"]
    first = out.data.copy()
    source.armed = True
    widget.mode.value = "All slices"
    run_and_wait(widget, qtbot)
    assert len(notifications["error"]) == 1 and "read error in slice 2" in notifications["error"][0]
    np.testing.assert_array_equal(out.data[0], first[0])  # the previous result stays
    assert widget.run_button.text == "Run" and image in viewer.layers


def test_a_run_too_large_for_the_memory_is_refused_with_a_notification(viewer, widget, qtbot, notifications):
    image = viewer.add_image(np.zeros((4096, 4096), np.float32) + np.eye(4096, dtype=np.float32), name="huge")
    widget.preset.value = "paper"  # trains on the whole image at full resolution
    widget.run()
    qtbot.waitUntil(lambda: not widget.running, timeout=TIMEOUT_MS)
    assert notifications["error"] and "GiB" in notifications["error"][-1]
    assert not any(layer.name == "huge segmentation" and layer.data.any() for layer in viewer.layers)
    assert image.data.sum() == 4096


@pytest.mark.parametrize("content", [b"", b"not a model", b"PK\x03\x04" + os.urandom(200)])
def test_a_model_file_that_fails_to_load_keeps_the_current_model(
    viewer, widget, qtbot, notifications, tmp_path, content
):
    viewer.add_image(two_region_image(), name="cells")
    run_and_wait(widget, qtbot)
    model = widget.model
    path = tmp_path / "broken.pt"
    path.write_bytes(content)
    widget.load_model(path)
    assert len(notifications["error"]) == 1 and "broken.pt" in notifications["error"][0]
    assert widget.model is model


def test_loading_a_folder_as_a_model_says_so(viewer, widget, notifications, tmp_path):
    widget.load_model(tmp_path)
    assert "is a folder" in notifications["error"][-1]


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads the resident memory from /proc")
def test_thirty_run_refine_cycles_hold_no_memory_beyond_the_undo_history(viewer, widget, qtbot):
    rng = np.random.default_rng(0)
    image = (two_region_image((256, 256)) + rng.normal(0, 0.2, (256, 256))).astype(np.float32)
    viewer.add_image(image, name="cells")
    widget.refine_iter.value = 2
    run_and_wait(widget, qtbot)
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["cells scribbles"]
    scribbles.data[40:60, 20:100] = 1
    scribbles.data[180:200, 150:240] = 2
    out = viewer.layers["cells segmentation"]
    samples = []
    for cycle in range(30):
        widget.seed.value = cycle % 3
        run_and_wait(widget, qtbot)
        scribbles.data[100 + cycle, 10:20] = 1 + cycle % 2  # a new stroke each cycle
        run_and_wait(widget, qtbot, "refine")
        samples.append((trimmed_rss_mb(), history_mb(out)))
    (rss_10, history_10), (rss_30, history_30) = samples[9], samples[-1]
    growth = (rss_30 - rss_10) - (history_30 - history_10)
    print(
        f"RSS {rss_10:.1f} -> {rss_30:.1f} MB over cycles 10-30, undo history {history_10:.2f} -> {history_30:.2f} MB"
    )
    assert growth <= 20 * 1.0, f"{growth:.1f} MB over 20 cycles beyond the undo history"
