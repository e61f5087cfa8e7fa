"""The correction loop, timed side by side with the random forest's refit.

``python -m benchmarks.refine [--threads 1]``: for every foreground/background photo and the
nuclei image, train the fast preset with the generated strokes, add one corrective stroke
inside the largest wrongly labelled region (as a user would), then time ``refine`` +
``labels`` (what the widget's Refine does) and, in the same loop, scikit-image's trainable
segmentation refitted on the same corrected strokes (the baseline users compare with).
Prints and writes ``results/refine.json``: foreground IoU before/after and the medians,
over the seeds given (default 0-3: one image's score moves a lot between seeds).
The widget gives torch all cores but one (1 thread on this 2-core machine); ``--threads``
sets that. ``--baseline-package`` (the folder of another copy of the ``napari_diffseg``
package, e.g. a checkout of the previous version) also trains that version's model on each
image and times its ``refine`` + ``labels`` on the same strokes, interleaved with the others.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks import baselines, datasets, metric
from benchmarks.first_result import load_package

RESULTS = Path(__file__).resolve().parent / "results"


def corrected(labels: np.ndarray, truth: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """``scribbles`` plus one stroke of the right class inside the largest error region."""
    from scipy import ndimage

    foreground = truth == 1
    wrong = (truth != metric.VOID) & ((labels == 1) != foreground)
    regions, count = ndimage.label(wrong)
    out = scribbles.copy()
    if count:
        sizes = ndimage.sum(wrong, regions, range(1, count + 1))
        region = regions == 1 + int(np.argmax(sizes))
        value = 1 if foreground[region].mean() > 0.5 else 2
        datasets.draw_stroke(out, region, value, 30, np.random.default_rng(0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated training seeds")
    parser.add_argument("--overrides", default="{}", help="overrides of the fast preset, as JSON")
    parser.add_argument("--out", default=str(RESULTS / "refine.json"), help="where to write the results")
    parser.add_argument("--baseline-package", default=None, help="folder of the napari_diffseg package to compare with")
    args = parser.parse_args()
    overrides = json.loads(args.overrides)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    import torch

    from napari_diffseg import Segmenter

    torch.set_num_threads(args.threads)
    baseline = None
    if args.baseline_package:
        package = load_package(Path(args.baseline_package)).__name__
        baseline = importlib.import_module(f"{package}.segmenter").Segmenter
    items = datasets.load_voc_foreground() + datasets.load_nuclei()
    if not items:
        sys.exit("no benchmark data (see docs/benchmarks.md, NAPARI_DIFFSEG_DATA): nothing to benchmark")
    rows = []
    for seed, item in ((seed, item) for seed in seeds for item in items):
        void = None if item.name == "nuclei2d" else metric.VOID
        model = Segmenter("fast", seed=seed, **overrides).fit(item.image, item.scribbles)
        before = model.labels()
        scribbles = corrected(before, item.truth, item.scribbles)
        old_model = (
            None if baseline is None else baseline("fast", seed=seed, **overrides).fit(item.image, item.scribbles)
        )
        if old_model is not None:
            old_model.labels()  # the labels shown before the stroke, as for the model above
        refine_s, forest_s, baseline_s = [], [], []
        for _ in range(3):  # interleaved, so that load from elsewhere hits all alike
            copy_of_model = copy.deepcopy(model)
            start = time.perf_counter()
            iterations = len(list(copy_of_model.refine(scribbles)))
            after = copy_of_model.labels()
            refine_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            forest = baselines.random_forest(item.image, scribbles)
            forest_s.append(time.perf_counter() - start)
            if old_model is not None:
                copy_of_old = copy.deepcopy(old_model)
                start = time.perf_counter()
                list(copy_of_old.refine(scribbles))
                copy_of_old.labels()
                baseline_s.append(time.perf_counter() - start)
        rows.append(
            {
                "image": item.name,
                "seed": seed,
                "refine iterations": iterations,
                "refine s": float(np.median(refine_s)),
                "forest refit s": float(np.median(forest_s)),
                "IoU before": metric.foreground_iou(before == 1, item.truth, void),
                "IoU after refine": metric.foreground_iou(after == 1, item.truth, void),
                "IoU forest": metric.foreground_iou(forest == 1, item.truth, void),
                **({"baseline refine s": float(np.median(baseline_s))} if baseline_s else {}),
            }
        )
        print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in rows[-1].items()}), flush=True)
    summary = {
        "overrides": overrides,
        "threads": args.threads,
        "seeds": seeds,
        "median refine s": float(np.median([r["refine s"] for r in rows])),
        "median forest refit s": float(np.median([r["forest refit s"] for r in rows])),
        "median ratio refine / forest": float(np.median([r["refine s"] / r["forest refit s"] for r in rows])),
        **(
            {
                "median baseline refine s": float(np.median([r["baseline refine s"] for r in rows])),
                "median ratio refine / baseline": float(
                    np.median([r["refine s"] / r["baseline refine s"] for r in rows])
                ),
            }
            if baseline is not None
            else {}
        ),
        "load average": [round(v, 2) for v in os.getloadavg()],
        "mean IoU before": float(np.mean([r["IoU before"] for r in rows])),
        "mean IoU after refine": float(np.mean([r["IoU after refine"] for r in rows])),
        "mean IoU forest": float(np.mean([r["IoU forest"] for r in rows])),
        "mean IoU before / after refine per seed": [
            [
                round(float(np.mean([r[key] for r in rows if r["seed"] == seed])), 4)
                for key in ("IoU before", "IoU after refine")
            ]
            for seed in seeds
        ],
    }
    print(json.dumps(summary, indent=1))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"rows": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
