"""Speed levers of one training iteration, measured side by side in one process.

Each variant trains its own fast-preset ``Segmenter`` on the same photo; the variants'
iterations are interleaved (round robin) so that load from other processes hits them alike,
and the median seconds per iteration of each is reported with its ratio to the baseline.
The allocator lever (glibc ``mallopt``) is process-wide and is measured in two child
processes instead (``--allocator``).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import subprocess
import sys
import time

import numpy as np

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
GLIBC_MMAP_MAX = 32 * 2**20


def _segmenter(image: np.ndarray, **params):
    from napari_diffseg import Segmenter

    segmenter = Segmenter("fast", seed=0, device="cpu", max_iter=10_000, **params)
    return segmenter, segmenter.train(image)


def _compiled(segmenter) -> None:
    import torch

    segmenter.network = torch.compile(segmenter.network)


def side_by_side(image: np.ndarray, rounds: int, per_round: int, *, compile: bool = True) -> list[dict]:
    """Median s/iteration of each in-process variant, interleaved (``compile``: include torch.compile)."""
    import torch

    variants = {
        "baseline (fast preset, 2 threads)": ({}, None, 2),
        "1 thread": ({}, None, 1),
        "zero padding (the reference's)": ({"padding": "zeros"}, None, 2),
    }
    if compile:
        variants["torch.compile"] = ({}, _compiled, 2)
        variants["torch.compile, zero padding"] = ({"padding": "zeros"}, _compiled, 2)
    runs, failed = {}, []
    for name, (params, change, threads) in variants.items():
        segmenter, steps = _segmenter(image, **params)
        torch.set_num_threads(threads)
        next(steps)  # builds the network (and the first batch)
        if change is not None:
            change(segmenter)
        start = time.perf_counter()
        try:
            next(steps)  # torch.compile compiles here
        except Exception as error:  # noqa: BLE001 - a lever that fails is a result too
            failed.append({"lever": name, "error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"})
            continue
        runs[name] = {"steps": steps, "threads": threads, "times": [], "first_s": time.perf_counter() - start}
    for _ in range(rounds):
        for run in runs.values():
            torch.set_num_threads(run["threads"])
            for _ in range(per_round):
                start = time.perf_counter()
                next(run["steps"])
                run["times"].append(time.perf_counter() - start)
    base = float(np.median(next(iter(runs.values()))["times"]))
    return [
        {
            "lever": name,
            "s_per_iter": float(np.median(run["times"])),
            "ratio_to_baseline": float(np.median(run["times"])) / base,
            "first_iter_s": run["first_s"],
        }
        for name, run in runs.items()
    ] + failed


def allocator_child(image_path: str, tuned: bool, iterations: int) -> dict:
    """s/iteration and system CPU share in this process, with or without glibc tuning."""
    import resource

    from skimage.io import imread

    if tuned:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, GLIBC_MMAP_MAX)
        libc.mallopt(M_TRIM_THRESHOLD, 4 * GLIBC_MMAP_MAX)
    import torch

    torch.set_num_threads(2)
    _, steps = _segmenter(imread(image_path))
    next(steps)
    before = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        next(steps)
        times.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    user, system = after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime
    return {
        "s_per_iter": float(np.median(times)),
        "system_share": system / (user + system),
        "minor_faults_per_iter": (after.ru_minflt - before.ru_minflt) / iterations,
    }


def allocator(image_path: str, rounds: int, iterations: int) -> list[dict]:
    """glibc defaults vs ``mallopt`` (mmap threshold at glibc's 32 MiB cap), alternating children."""
    results: dict[bool, list[dict]] = {False: [], True: []}
    for _ in range(rounds):
        for tuned in (False, True):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.levers", "--child", image_path, str(int(tuned)), str(iterations)],
                capture_output=True,
                text=True,
                check=True,
            )
            results[tuned].append(json.loads(out.stdout.strip().splitlines()[-1]))
    rows = []
    for tuned, name in ((False, "glibc malloc defaults"), (True, "mallopt mmap threshold 32 MiB")):
        rows.append({"lever": name, **{k: float(np.median([r[k] for r in results[tuned]])) for k in results[tuned][0]}})
    base = rows[0]["s_per_iter"]
    for row in rows:
        row["ratio_to_baseline"] = row["s_per_iter"] / base
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, tuned, iterations = args.child
        print(json.dumps(allocator_child(path, bool(int(tuned)), int(iterations))))
