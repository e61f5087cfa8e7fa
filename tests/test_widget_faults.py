# ruff: noqa: F811 - the widget fixtures are imported from test_widget and used as arguments
"""Faults in a real napari viewer: failing reads, refused runs, bad model files, long use.

Each fault ends in one notification; napari keeps running, the user's layers are untouched and
the previous result stays.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from test_widget import TIMEOUT_MS, notifications, run_and_wait, two_region_image, viewer, widget  # noqa: F401 - fixtures

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
def test_thirty_run_refine_cycles_hold_no_memory_beyond_the_undo_history(tmp_path):
    """30 Run + Refine cycles in a viewer of a process of its own, as a user's napari is (other
    tests' viewers would share its heap)."""
    out = tmp_path / "soak.json"
    args = ["--cycles", "30", "--side", "512", "--max-iter", "4", "--refine-iter", "2", "--out", str(out)]
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks.soak", *args], cwd=root, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stderr[-2000:]
    samples = json.loads(out.read_text())
    tenth, last = samples[9], samples[-1]
    growth = (last["rss_trimmed_mb"] - tenth["rss_trimmed_mb"]) - (last["history_mb"] - tenth["history_mb"])
    print(
        f"RSS {tenth['rss_trimmed_mb']:.1f} -> {last['rss_trimmed_mb']:.1f} MB over cycles 10-30, undo history "
        f"{tenth['history_mb']:.2f} -> {last['history_mb']:.2f} MB"
    )
    assert growth <= 20 * 1.0, f"{growth:.1f} MB over 20 cycles beyond the undo history"
