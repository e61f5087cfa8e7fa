"""The fast preset's quality over several seeds: ``python -m benchmarks.seeds [--seeds 0,1,2,3]``.

One image's score can move a lot between seeds (the network's initialisation and the crop
sampler), so the targets are checked on every seed, not on seed 0 alone. Scores the fast
preset (with optional overrides, JSON) on the BSDS tuning and held-out images, the VOC
scribbles, the foreground/background photos and the nuclei image, exactly as ``quality.py``
does, and writes ``results/seeds.json`` or ``--out`` (per seed, the mean and the minimum). The baselines do not depend
on the seed: they are in ``run.py``'s tables.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from benchmarks import datasets, metric, quality

RESULTS = Path(__file__).resolve().parent / "results"


def scores(seed: int, overrides: dict) -> dict[str, float]:
    """Every set's headline score for one seed."""
    method = quality.diffseg("fast", seed=seed, **overrides)
    tune, held_out = datasets.bsds_split()
    row = {}
    for split, names in (("BSDS tuning all", tune), ("BSDS held-out all", held_out)):
        items = datasets.load_bsds(names)
        row[split] = metric.bsds_miou([method(item.image) for item in items], [item.truths for item in items])["all"]
    voc = datasets.load_voc_scribbles()
    row["VOC scribbles mIoU"] = metric.pooled_miou(
        [method(item.image, item.scribbles) for item in voc], [item.truth for item in voc], metric.VOID
    )
    for name, items, void in (
        ("fg/bg photos IoU", datasets.load_voc_foreground(), metric.VOID),
        ("nuclei IoU", datasets.load_nuclei(), None),
    ):
        row[name] = float(
            np.mean(
                [metric.foreground_iou(method(item.image, item.scribbles) == 1, item.truth, void) for item in items]
            )
        )
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated seeds")
    parser.add_argument("--overrides", default="{}", help="overrides of the fast preset, as JSON")
    parser.add_argument("--out", default=str(RESULTS / "seeds.json"), help="where to write the results")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(2)
    if not datasets.data_available():
        sys.exit("no benchmark data (see docs/benchmarks.md, NAPARI_DIFFSEG_DATA): nothing to score")
    overrides = json.loads(args.overrides)
    per_seed = {}
    for seed in (int(s) for s in args.seeds.split(",")):
        per_seed[seed] = scores(seed, overrides)
        print(seed, {k: round(v, 4) for k, v in per_seed[seed].items()}, flush=True)
    keys = next(iter(per_seed.values())).keys()
    summary = {
        key: {
            "mean": float(np.mean([row[key] for row in per_seed.values()])),
            "min": float(np.min([row[key] for row in per_seed.values()])),
        }
        for key in keys
    }
    print(json.dumps(summary, indent=1))
    out = {"overrides": overrides, "threads": 2, "per seed": per_seed, "summary": summary}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
