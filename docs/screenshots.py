"""Regenerate the screenshots of the napari window in docs/images/.

Runs the real plugin on its sample data, headless on a virtual display:

    xvfb-run -a -s "-screen 0 1600x1000x24" python docs/screenshots.py

Leave ``QT_QPA_PLATFORM`` unset: the "offscreen" platform renders the canvas black.
"""

from __future__ import annotations

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


def save(viewer: napari.Viewer, name: str) -> None:
    viewer.reset_view()
    QApplication.instance().processEvents()
    path = IMAGES / name
    viewer.screenshot(str(path), canvas_only=False)
    print(f"wrote {path}")


def tissue_with_scribbles() -> None:
    """The 2D sample: painted scribbles, one Run, the segmentation over the image."""
    viewer, widget = open_viewer()
    viewer.open_sample("napari-diffseg", "tissue")
    widget.image.value = viewer.layers["tissue"]
    widget.run()
    wait_for(widget)
    viewer.layers["tissue segmentation"].opacity = 0.45
    viewer.layers.selection.active = viewer.layers["tissue scribbles"]
    save(viewer, "tissue-scribbles.png")
    viewer.close()


def stack_all_slices() -> None:
    """The 3D sample: every slice in one go, shown with the slider half-way."""
    viewer, widget = open_viewer()
    viewer.open_sample("napari-diffseg", "nuclei_stack")
    widget.mode.value = "All slices"
    widget.run()
    wait_for(widget)
    viewer.dims.set_point(0, viewer.dims.range[0].stop / 2)
    viewer.layers["nuclei stack segmentation"].opacity = 0.5
    save(viewer, "stack-all-slices.png")
    viewer.close()


def main() -> None:
    if os.environ.get("QT_QPA_PLATFORM") == "offscreen":
        raise SystemExit("unset QT_QPA_PLATFORM: the offscreen platform renders black screenshots")
    IMAGES.mkdir(parents=True, exist_ok=True)
    np.random.seed(0)
    tissue_with_scribbles()
    stack_all_slices()


if __name__ == "__main__":
    main()
