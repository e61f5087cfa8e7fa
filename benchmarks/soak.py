"""Memory over long use of the widget: Run + Refine cycles in a real napari viewer.

Records the resident memory (RSS) and the bytes held by the output layer's undo history after
every cycle, with and without returning freed heap memory to the system (glibc ``malloc_trim``),
so that growth can be told apart into the undo history, allocator retention and leaks.

Run under a display (``xvfb-run -a python -m benchmarks.soak --cycles 100``); results go to
``benchmarks/results/soak.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import json
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).parent / "results" / "soak.json"


def rss_mb() -> float:
    """Resident memory of this process in MiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise OSError("no VmRSS in /proc/self/status")


def trimmed_rss_mb() -> float:
    """Resident memory after a garbage collection and, on glibc, handing freed heap pages back
    (``malloc_trim``), so that what remains is memory still in use."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return rss_mb()


def history_mb(layer) -> float:
    """MiB held by a Labels layer's undo history (napari keeps up to 100 steps)."""
    total = 0
    for item in layer._undo_history:  # napari has no public size of its history
        for atom in item:
            parts = atom if isinstance(atom, tuple) else vars(atom).values()
            for part in parts:
                for array in part if isinstance(part, tuple) else (part,):
                    total += getattr(array, "nbytes", 0)
    return total / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--side", type=int, help="a noisy two-region image of this side instead of the astronaut")
    parser.add_argument("--max-iter", type=int, help="the widget's Max iterations (default: the preset's)")
    parser.add_argument("--refine-iter", type=int, help="the widget's Refine iterations (default: the preset's)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication
    from skimage import data

    viewer = napari.Viewer(show=False)
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    if args.side:
        rng = np.random.default_rng(0)
        image = np.zeros((args.side, args.side), np.float32)
        image[:, args.side // 2 :] = 1.0
        viewer.add_image(image + rng.normal(0, 0.2, image.shape).astype(np.float32), name="image")
    else:
        viewer.add_image(data.astronaut(), name="image", rgb=True)
    if args.max_iter:
        widget.max_iter.value = args.max_iter
    if args.refine_iter:
        widget.refine_iter.value = args.refine_iter

    def wait() -> None:
        while widget.running:
            QApplication.processEvents()
            time.sleep(0.005)

    widget.run()
    wait()
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["image scribbles"]
    height, width = scribbles.data.shape
    scribbles.data[height // 2 : height // 2 + 8, width // 10 : width // 3] = 1
    scribbles.data[height // 10 : height // 10 + 8, width * 2 // 3 : width - width // 10] = 2
    out = viewer.layers["image segmentation"]
    rows = []
    for cycle in range(args.cycles):
        widget.seed.value = cycle % 3
        widget.run()
        wait()
        row = height // 5 + cycle % (height // 2)
        scribbles.data[row, width // 20 : width // 10] = 1 + cycle % 2  # a new stroke each cycle
        widget.refine()
        wait()
        gc.collect()
        before_trim = rss_mb()
        rows.append(
            {
                "cycle": cycle + 1,
                "rss_mb": before_trim,
                "rss_trimmed_mb": trimmed_rss_mb(),
                "history_mb": history_mb(out),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
        args.out.write_text(json.dumps(rows, indent=1))
    viewer.close()


if __name__ == "__main__":
    main()
