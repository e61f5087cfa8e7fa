"""Speed and memory: fast vs paper side by side, scaling with image size, prediction rate,
the first call of a fresh process, and the up-front memory refusal.

Timings on a shared machine are only meaningful as ratios measured side by side; every
figure is a median.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import numpy as np

PAPER_ITERATIONS = 1000  # the paper preset ran all 1000 iterations on held-out photos


def fast_vs_paper(image: np.ndarray, rounds: int, paper_iters_per_round: int) -> dict:
    """Interleave whole ``segment`` calls of the fast preset with paper-preset iterations.

    The paper preset's whole call is estimated as its median seconds per iteration times
    ``PAPER_ITERATIONS`` (the iterations it really runs on these photos).
    """
    from napari_diffseg import Segmenter, segment

    segment(image[:64, :64], device="cpu", max_iter=2)  # warm-up
    paper = Segmenter("paper", seed=0, device="cpu").train(image)
    next(paper)
    fast_times, paper_times = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        segment(image, device="cpu")
        fast_times.append(time.perf_counter() - start)
        for _ in range(paper_iters_per_round):
            start = time.perf_counter()
            next(paper)
            paper_times.append(time.perf_counter() - start)
    fast_s, paper_it = float(np.median(fast_times)), float(np.median(paper_times))
    return {
        "image": f"{image.shape[1]}x{image.shape[0]}",
        "fast_whole_call_s": fast_s,
        "fast_runs": len(fast_times),
        "paper_s_per_iter": paper_it,
        "paper_iters_timed": len(paper_times),
        "paper_whole_call_s_estimate": paper_it * PAPER_ITERATIONS,
        "ratio": paper_it * PAPER_ITERATIONS / fast_s,
    }


def resized_photo(side: int) -> np.ndarray:
    from skimage import data
    from skimage.transform import resize

    return (resize(data.astronaut(), (side, side), anti_aliasing=True) * 255).astype(np.uint8)


def scale_child(side: int, preset: str, repeats: int) -> dict:
    """In a fresh process: whole-call time, s/iteration and peak RSS at ``side`` x ``side``."""
    import torch

    from napari_diffseg import Segmenter, segment

    torch.set_num_threads(2)
    image = resized_photo(side)
    segment(image[:64, :64], device="cpu", max_iter=2)
    calls, per_iter = [], []
    for _ in range(repeats):
        stamps = []
        start = time.perf_counter()
        segmenter = Segmenter(preset, seed=0, device="cpu")
        for _progress in segmenter.train(image):
            stamps.append(time.perf_counter())
            if preset == "paper" and len(stamps) == 4:
                break  # the paper preset is timed per iteration only
        if preset != "paper":
            segmenter.labels()
            calls.append(time.perf_counter() - start)
        per_iter.append(float(np.median(np.diff(stamps))))
    peak = _peak_rss_bytes()
    return {
        "side": side,
        "preset": preset,
        "whole_call_s": float(np.median(calls)) if calls else None,
        "s_per_iter": float(np.median(per_iter)),
        "peak_rss_gib": peak / 2**30,
    }


def _peak_rss_bytes() -> int:
    """This process's peak resident set (``VmHWM``).

    Not ``getrusage().ru_maxrss``: Linux carries the parent's peak over ``fork`` + ``exec``,
    so a child started by a large parent would report the parent's peak.
    """
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("VmHWM not found in /proc/self/status")


def scaling(sides: list[int], preset: str = "fast", repeats: int = 3) -> list[dict]:
    """One fresh child process per size, so that peak RSS belongs to that size alone."""
    rows = []
    for side in sides:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.speed", "scale", str(side), preset, str(repeats)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return rows


def prediction_rate(image: np.ndarray, repeats: int) -> dict:
    """Slices per second of ``Segmenter.predict`` with a model trained on ``image``."""
    from napari_diffseg import Segmenter

    segmenter = Segmenter("fast", seed=0, device="cpu").fit(image)
    segmenter.predict(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        segmenter.predict(image)
        times.append(time.perf_counter() - start)
    median = float(np.median(times))
    return {"slice": f"{image.shape[1]}x{image.shape[0]}", "s_per_slice": median, "slices_per_s": 1 / median}


FIRST_CALL = """
import time; t0 = time.perf_counter()
from skimage.io import imread; image = imread({path!r})
from napari_diffseg import segment; t1 = time.perf_counter()
segment(image, device="cpu"); t2 = time.perf_counter()
segment(image, device="cpu"); t3 = time.perf_counter()
print(t1 - t0, t2 - t1, t3 - t2)
"""


def first_call(image_path: str, repeats: int) -> dict:
    """A fresh ``python`` process (as the CLI sees it): total wall, import, first and second call."""
    walls, imports, firsts, seconds = [], [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", FIRST_CALL.format(path=image_path)], capture_output=True, text=True, check=True
        )
        walls.append(time.perf_counter() - start)
        imp, first, second = map(float, out.stdout.split())
        imports.append(imp)
        firsts.append(first)
        seconds.append(second)
    return {
        "process_wall_to_first_labels_s": float(np.median(walls)) - float(np.median(seconds)),
        "import_s": float(np.median(imports)),
        "first_call_s": float(np.median(firsts)),
        "second_call_s": float(np.median(seconds)),
    }


def memory_refusal(side: int = 8192) -> dict:
    """The paper preset on a huge image is refused up front, with an estimate."""
    from napari_diffseg import Segmenter
    from napari_diffseg.memory import InsufficientMemoryError

    image = np.zeros((side, side, 3), np.uint8)
    start = time.perf_counter()
    try:
        Segmenter("paper", seed=0, device="cpu").train(image)
    except InsufficientMemoryError as error:
        return {
            "request": f"paper preset, {side}x{side} RGB",
            "refused": True,
            "message": str(error),
            "seconds_to_refuse": time.perf_counter() - start,
        }
    return {"request": f"paper preset, {side}x{side} RGB", "refused": False}


if __name__ == "__main__":
    if sys.argv[1:2] == ["scale"]:
        print(json.dumps(scale_child(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))))
