"""One 481x321 BSDS500 photo segmented with 1 torch thread and with torch's default, interleaved.

Run it on a busy machine and on an idle one: ``python -m benchmarks.threads``. Writes
``benchmarks/results/threads.json`` after every call, so that partial results survive.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from benchmarks import datasets

RESULTS = Path(__file__).resolve().parent / "results" / "threads.json"


def main(argv: list[str] | None = None) -> int:
    """Alternate 1 thread and torch's default thread count, ``--rounds`` pairs, in one process."""
    import torch

    from napari_diffseg import segment

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="pairs of calls (default: 5)")
    parser.add_argument("--image", default="12003", help="BSDS500 train image id (default: 12003)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results file")
    args = parser.parse_args(argv)
    images = datasets.load_bsds([args.image]) if datasets.data_available() else []
    if not images:
        sys.exit("no benchmark data (see docs/benchmarks.md, NAPARI_DIFFSEG_DATA): nothing to benchmark")
    image = images[0].image
    default = torch.get_num_threads()
    results = {"image": f"BSDS500 {args.image} {image.shape[1]}x{image.shape[0]}", "default_threads": default}
    results["runs"] = []
    segment(image, seed=0, threads=1, max_iter=3)  # warm-up
    for round_ in range(args.rounds):
        for threads in (1, default) if round_ % 2 == 0 else (default, 1):
            start = time.perf_counter()
            segment(image, seed=0, threads=threads)
            results["runs"].append({"threads": threads, "seconds": round(time.perf_counter() - start, 2)})
            args.out.write_text(json.dumps(results, indent=1))
    for threads in (1, default):
        results[f"median_s_{threads}_threads"] = statistics.median(
            run["seconds"] for run in results["runs"] if run["threads"] == threads
        )
    results["ratio_default_to_1"] = round(results[f"median_s_{default}_threads"] / results["median_s_1_threads"], 2)
    args.out.write_text(json.dumps(results, indent=1))
    print(json.dumps({key: value for key, value in results.items() if key != "runs"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
