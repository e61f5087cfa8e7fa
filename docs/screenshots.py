"""Regenerate the screenshots of the napari window in docs/images/.

Runs the real plugin on its sample data, headless on a virtual display:

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots.py [--out FOLDER]

Leave ``QT_QPA_PLATFORM`` unset: the "offscreen" platform renders the canvas black.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import napari
import numpy as np
from qtpy.QtWidgets import QApplication

IMAGES = Path(__file__).parent / "images"
WINDOW = (1400, 860)


def wait_for(widget, timeout_s: float = 900.0) -> None:
    """Process Qt events until the widget's run has finished."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while widget.running:
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not finish in time")
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):  # let the canvas draw the result
        app.processEvents()
        time.sleep(0.02)


def open_viewer() -> tuple[napari.Viewer, object]:
    viewer = napari.Viewer()
    viewer.window.resize(*WINDOW)
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    return viewer, widget


def save(viewer: napari.Viewer, folder: Path, name: str) -> None:
    viewer.reset_view()
    QApplication.instance().processEvents()
    path = folder / name
    viewer.screenshot(str(path), canvas_only=False)
    print(f"wrote {path}")


def wait_for_iteration(widget, iteration: int, timeout_s: float = 900.0) -> None:
    """Process Qt events until the widget's run has reached ``iteration`` (or ended)."""
    app = QApplication.instance()
    deadline = time.monotonic() + timeout_s
    while widget.running and (widget.job is None or widget.job.iterations < iteration):
        if time.monotonic() > deadline:
            raise TimeoutError("the run did not get there in time")
        app.processEvents()
        time.sleep(0.01)


def tissue_with_scribbles(folder: Path) -> None:
    """The 2D sample: painted scribbles, one Run (with its progress in the widget), the segmentation."""
    viewer, widget = open_viewer()
    viewer.open_sample("napari-diffseg", "tissue")
    widget.image.value = viewer.layers["tissue"]
    widget.run()
    wait_for_iteration(widget, widget.max_iter.value // 2)
    save(viewer, folder, "tissue-running.png")
    wait_for(widget)
    viewer.layers["tissue segmentation"].opacity = 0.45
    viewer.layers.selection.active = viewer.layers["tissue scribbles"]
    save(viewer, folder, "tissue-scribbles.png")
    viewer.close()


def stack_all_slices(folder: Path) -> None:
    """The 3D sample: every slice in one go, shown with the slider half-way."""
    viewer, widget = open_viewer()
    viewer.open_sample("napari-diffseg", "nuclei_stack")
    widget.mode.value = "All slices"
    widget.run()
    wait_for(widget)
    viewer.dims.set_point(0, viewer.dims.range[0].stop / 2)
    viewer.layers["nuclei stack segmentation"].opacity = 0.5
    save(viewer, folder, "stack-all-slices.png")
    viewer.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Regenerate the screenshots of the napari window.")
    parser.add_argument("--out", type=Path, default=IMAGES, help="folder to write them to (default: docs/images)")
    folder = parser.parse_args(argv).out
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        raise SystemExit("unset QT_QPA_PLATFORM: the offscreen platform renders black screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    np.random.seed(0)
    tissue_with_scribbles(folder)
    stack_all_slices(folder)


if __name__ == "__main__":
    main()
