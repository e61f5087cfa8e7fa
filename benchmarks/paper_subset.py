"""Run the ``paper`` preset on the fixed BSDS subset and save its labels along the way.

At about half an hour per photo (1000 iterations) this runs once, in the background::

    for name in 25098 26031 27059; do
        nice -n 19 python benchmarks/paper_subset.py $name --threads 1 &
    done

For each image it writes ``benchmarks/results/paper_<name>.npz`` (labels at checkpoint
iterations and at the end) and ``benchmarks/results/paper_<name>.json`` (iterations run, label
counts, seconds per iteration), rewritten at every checkpoint so a partial run is usable.
``quality.py`` scores the labels with the paper's metric.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from datasets import PAPER_SUBSET, load_bsds

RESULTS = Path(__file__).resolve().parent / "results"
CHECKPOINTS = (50, 100, 200, 300, 400, 500, 600, 700, 800, 900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(PAPER_SUBSET), help="BSDS image ids")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--max-iter", type=int, default=1000)
    args = parser.parse_args()

    import torch

    from napari_diffseg import Segmenter

    torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    for item in load_bsds(args.names):
        arrays: dict[str, np.ndarray] = {}
        summary: dict[str, dict] = {}
        segmenter = Segmenter("paper", seed=0, device="cpu", max_iter=args.max_iter)
        record = summary[item.name] = {"seconds": [], "n_labels": [], "done": False}
        start = time.perf_counter()
        for progress in segmenter.train(item.image):
            now = time.perf_counter()
            record["seconds"].append(now - start)
            record["n_labels"].append(progress.n_labels)
            if progress.iteration in CHECKPOINTS:
                arrays[f"{item.name}_iter{progress.iteration}"] = segmenter.labels()
                _write(item.name, arrays, summary, args.threads)
            start = time.perf_counter()
        arrays[f"{item.name}_final"] = segmenter.labels()
        record["done"] = True
        _write(item.name, arrays, summary, args.threads)


def _write(name: str, arrays: dict[str, np.ndarray], summary: dict[str, dict], threads: int) -> None:
    np.savez_compressed(RESULTS / f"paper_{name}.npz", **arrays)
    for record in summary.values():
        record["iterations"] = len(record["seconds"])
        record["median_s_per_iter"] = float(np.median(record["seconds"])) if record["seconds"] else None
    meta = {"preset": "paper", "seed": 0, "threads": threads, "niced": True, "images": summary}
    (RESULTS / f"paper_{name}.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
