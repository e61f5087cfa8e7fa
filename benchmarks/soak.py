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
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication
    from skimage import data

    viewer = napari.Viewer(show=False)
    _, widget = viewer.window.add_plugin_dock_widget("napari-diffseg", "Feature clustering")
    viewer.add_image(data.astronaut(), name="astronaut", rgb=True)
    libc = ctypes.CDLL("libc.so.6")

    def wait() -> None:
        while widget.running:
            QApplication.processEvents()
            time.sleep(0.005)

    widget.run()
    wait()
    widget.new_scribbles.clicked.emit()
    scribbles = viewer.layers["astronaut scribbles"]
    scribbles.data[300:320, 150:350] = 1
    scribbles.data[20:40, 20:480] = 2
    out = viewer.layers["astronaut segmentation"]
    rows = []
    for cycle in range(args.cycles):
        widget.seed.value = cycle % 3
        widget.run()
        wait()
        scribbles.data[100 + cycle % 300, 400:420] = 1 + cycle % 2
        widget.refine()
        wait()
        gc.collect()
        before_trim = rss_mb()
        libc.malloc_trim(0)
        rows.append(
            {"cycle": cycle + 1, "rss_mb": before_trim, "rss_trimmed_mb": rss_mb(), "history_mb": history_mb(out)}
        )
        print(json.dumps(rows[-1]), flush=True)
        args.out.write_text(json.dumps(rows, indent=1))
    viewer.close()


if __name__ == "__main__":
    main()
