"""The first result with scribbles, timed side by side with a baseline.

``python -m benchmarks.first_result [--threads 2] [--repeats 3]``: for each of the six
foreground/background VOC photos (generated strokes), time ``segment(image, scribbles)`` with
the fast preset as a user's first Run does, alternating call by call between the candidate
(``--overrides``) and the baseline (``--baseline``: other overrides of the fast preset, and/or
``--baseline-package``: the folder of another copy of the ``napari_diffseg`` package, for
example a checkout of the previous version, imported under another name), so that load from
elsewhere hits both alike. Prints and writes ``results/first_result.json``: per image the
median seconds of both, their ratio, the foreground IoU of both, and the load average.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from benchmarks import datasets, metric

RESULTS = Path(__file__).resolve().parent / "results"


def load_package(folder: Path, name: str = "napari_diffseg_baseline") -> ModuleType:
    """Import the ``napari_diffseg`` package in ``folder`` as ``name`` (its modules import each other
    relatively, so they all come from ``folder``; the package's lazy attributes would not)."""
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    if spec is None or spec.loader is None:
        sys.exit(f"--baseline-package: no package in {folder}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch threads (segment's default uses them all)")
    parser.add_argument("--repeats", type=int, default=3, help="calls per image and variant")
    parser.add_argument("--overrides", default="{}", help="overrides of the fast preset for the candidate, as JSON")
    parser.add_argument("--baseline", default="{}", help="overrides of the fast preset for the baseline, as JSON")
    parser.add_argument("--baseline-package", default=None, help="folder of the napari_diffseg package to compare with")
    parser.add_argument("--out", default=str(RESULTS / "first_result.json"), help="where to write the results")
    args = parser.parse_args()
    import torch

    import napari_diffseg

    torch.set_num_threads(args.threads)
    package = load_package(Path(args.baseline_package)).__name__ if args.baseline_package else "napari_diffseg"
    variants = {
        "candidate": (napari_diffseg.segment, json.loads(args.overrides)),
        "baseline": (importlib.import_module(f"{package}.segment_image").segment, json.loads(args.baseline)),
    }
    items = datasets.load_voc_foreground()
    if not items:
        sys.exit("no benchmark data (see docs/benchmarks.md, NAPARI_DIFFSEG_DATA): nothing to benchmark")
    for segment, overrides in variants.values():  # warm-up: lazy imports and first-call allocations
        segment(items[0].image, items[0].scribbles, seed=0, **overrides)
    rows = []
    for item in items:
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        ious: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, (segment, overrides) in variants.items():
                start = time.perf_counter()
                labels = segment(item.image, item.scribbles, seed=0, **overrides)
                seconds[name].append(time.perf_counter() - start)
                ious[name] = metric.foreground_iou(labels == 1, item.truth, metric.VOID)
        row = {"image": item.name, "load average": os.getloadavg()[0]}
        for name in variants:
            row[f"{name} s"] = float(np.median(seconds[name]))
            row[f"{name} IoU"] = ious[name]
        row["ratio"] = row["candidate s"] / row["baseline s"]
        rows.append(row)
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    summary = {
        "overrides": variants["candidate"][1],
        "baseline": variants["baseline"][1],
        "baseline package": args.baseline_package is not None,
        "threads": args.threads,
        "repeats": args.repeats,
        "median candidate s": float(np.median([r["candidate s"] for r in rows])),
        "median baseline s": float(np.median([r["baseline s"] for r in rows])),
        "median ratio": float(np.median([r["ratio"] for r in rows])),
        "mean candidate IoU": float(np.mean([r["candidate IoU"] for r in rows])),
        "mean baseline IoU": float(np.mean([r["baseline IoU"] for r in rows])),
        "load average": [round(v, 2) for v in os.getloadavg()],
    }
    print(json.dumps(summary, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
