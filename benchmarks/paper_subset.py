"""Run the ``paper`` preset on the fixed BSDS subset and save its labels along the way.

At about half an hour per photo (1000 iterations) this runs once, in the background::

    for name in 25098 26031 27059; do
        nice -n 19 python -m benchmarks.paper_subset $name --threads 1 &
    done

For each image it writes ``benchmarks/results/paper_<name>.npz`` (labels at checkpoint
iterations and at the end) and ``benchmarks/results/paper_<name>.json`` (iterations run, label
counts, seconds per iteration), rewritten at every checkpoint so a partial run is usable, and
``benchmarks/results/paper_<name>_state.pt`` (weights and SGD momentum at the checkpoint):
``--resume`` continues an unfinished run from there, with the same result as an uninterrupted
one, so a long run can be finished in several sittings. ``quality.py`` scores the labels with the
paper's metric.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.datasets import PAPER_SUBSET, load_bsds

RESULTS = Path(__file__).resolve().parent / "results"
CHECKPOINTS = (50, 100, 200, 300, 400, 500, 600, 700, 800, 900)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", default=list(PAPER_SUBSET), help="BSDS image ids")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--max-iter", type=int, default=1000)
    parser.add_argument("--resume", action="store_true", help="continue from the last saved checkpoint")
    args = parser.parse_args()

    import torch

    from napari_diffseg import Segmenter

    torch.set_num_threads(args.threads)
    RESULTS.mkdir(exist_ok=True)
    for item in load_bsds(args.names):
        state_path = RESULTS / f"paper_{item.name}_state.pt"
        done = 0
        arrays: dict[str, np.ndarray] = {}
        summary: dict[str, dict] = {item.name: {"seconds": [], "n_labels": [], "done": False}}
        if args.resume and state_path.exists():
            with np.load(RESULTS / f"paper_{item.name}.npz") as saved:
                arrays = dict(saved)
            summary = json.loads((RESULTS / f"paper_{item.name}.json").read_text())["images"]
            done = int(torch.load(state_path, weights_only=True)["iteration"])
            record = summary[item.name]
            record["seconds"], record["n_labels"] = record["seconds"][:done], record["n_labels"][:done]
        record = summary[item.name]
        segmenter = Segmenter("paper", seed=0, device="cpu", max_iter=args.max_iter - done)
        progress_reports = segmenter.train(item.image)
        if done:
            restore_state(segmenter, state_path)
        start = time.perf_counter()
        for progress in progress_reports:
            iteration = done + progress.iteration
            now = time.perf_counter()
            record["seconds"].append(now - start)
            record["n_labels"].append(progress.n_labels)
            if iteration in CHECKPOINTS:
                arrays[f"{item.name}_iter{iteration}"] = segmenter.labels()
                _write(item.name, arrays, summary, args.threads)
                save_state(segmenter, iteration, state_path)
            start = time.perf_counter()
        arrays[f"{item.name}_final"] = segmenter.labels()
        record["done"] = True
        _write(item.name, arrays, summary, args.threads)


def save_state(segmenter, iteration: int, path: Path) -> None:
    """Weights (with BatchNorm statistics) and optimiser state after ``iteration`` iterations."""
    import torch

    torch.save({"iteration": iteration, **segmenter.state_dict()}, path)


def restore_state(segmenter, path: Path) -> int:
    """Load what :func:`save_state` wrote into a segmenter whose ``train`` has been called."""
    import torch

    state = torch.load(path, weights_only=True)
    segmenter.load_state_dict(state)
    return int(state["iteration"])


def _write(name: str, arrays: dict[str, np.ndarray], summary: dict[str, dict], threads: int) -> None:
    np.savez_compressed(RESULTS / f"paper_{name}.npz", **arrays)
    for record in summary.values():
        record["iterations"] = len(record["seconds"])
        record["median_s_per_iter"] = float(np.median(record["seconds"])) if record["seconds"] else None
    meta = {"preset": "paper", "seed": 0, "threads": threads, "niced": True, "images": summary}
    (RESULTS / f"paper_{name}.json").write_text(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
