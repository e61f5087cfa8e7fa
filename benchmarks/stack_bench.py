"""Stack benchmarks: prediction-only throughput, and peak memory on a large stack on disk.

Targets: >= 10 slices/s at 512x512 on 2 CPU threads (quiet machine), and a peak
memory under 2 GB for a 200x1024x1024 uint16 stack read from disk. The stack is generated
on the fly in a temporary folder and deleted afterwards.

Run: ``python -m benchmarks.stack_bench [--part throughput|memory|both] [--slices 200]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np


def synthetic_slice(size: int, z: int, rng: np.random.Generator) -> np.ndarray:
    """A uint16 slice with drifting disks on a textured background."""
    yy, xx = np.mgrid[:size, :size]
    image = 800 + 200 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    for k in range(6):
        cy, cx = (size * (0.2 + 0.12 * k) + z) % size, (size * (0.8 - 0.1 * k) - z / 2) % size
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < (size / 14) ** 2] = 3000 + 400 * k
    return (image + rng.normal(0, 60, image.shape)).clip(0, 65535).astype(np.uint16)


def trained_model(size: int, threads: int):
    """A fast-preset model trained briefly on two slices (training is not what is measured)."""
    from napari_diffseg import Segmenter

    rng = np.random.default_rng(0)
    model = Segmenter("fast", seed=0, device="cpu", threads=threads, max_iter=30)
    return model.fit([synthetic_slice(size, 0, rng), synthetic_slice(size, 50, rng)])


def throughput(size: int, n_slices: int, threads: int, repeats: int) -> dict:
    """Slices per second of segment_stack with a trained model (read, predict, write).

    Measured with and without folding fragment clusters (``merge_fragments``), alternating
    runs in one process so that both see the same load. Also the CPU seconds per slice: on
    a busy machine, ``threads / cpu_s_per_slice`` bounds what the same threads would do on
    a quiet one (spinning OpenMP threads inflate it).
    """
    from napari_diffseg import segment_stack

    rng = np.random.default_rng(1)
    stack = np.stack([synthetic_slice(size, z, rng) for z in range(n_slices)])
    model = trained_model(size, threads)
    segment_stack(stack[:2], model=model, device="cpu")  # warm-up: fixes ids, loads kernels
    runs: dict[bool, dict[str, list[float]]] = {merge: {"rates": [], "cpu": []} for merge in (False, True)}
    for _ in range(repeats):
        for merge, record in runs.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            segment_stack(stack, model=model, device="cpu", merge_fragments=merge)
            record["rates"].append(n_slices / (time.perf_counter() - start))
            record["cpu"].append((time.process_time() - start_cpu) / n_slices)
    report = {"size": size, "slices": n_slices, "threads": threads}
    for merge, record in runs.items():
        name = "merge_fragments" if merge else "predict_only"
        report[name] = {
            "slices_per_s_runs": [round(r, 2) for r in record["rates"]],
            "slices_per_s_median": round(float(np.median(record["rates"])), 2),
            "cpu_s_per_slice_median": round(float(np.median(record["cpu"])), 3),
        }
    return report


def memory_child(path: str, out: str, threads: int) -> None:
    """Label the stack at ``path`` into ``out`` (run in a fresh process) and print peak RSS."""
    from napari_diffseg import segment_stack
    from napari_diffseg.stack.io import open_stack

    size = open_stack(path).shape[-1]
    start = time.perf_counter()
    segment_stack(path, out=out, device="cpu", threads=threads, seed=0)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"size": size, "seconds": round(seconds, 1), "peak_rss_gib": round(peak / 2**30, 3)}))


def memory(n_slices: int, size: int, threads: int) -> dict:
    """Write an (n, size, size) uint16 TIFF slice by slice, then label it in a fresh process."""
    import tifffile

    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "stack.tif")
        rng = np.random.default_rng(2)
        with tifffile.TiffWriter(path, bigtiff=True) as tif:
            for z in range(n_slices):
                tif.write(synthetic_slice(size, z, rng), contiguous=True)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "benchmarks.stack_bench",
                "--child",
                path,
                os.path.join(folder, "labels.zarr"),
                "--threads",
                str(threads),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        report = json.loads(result.stdout.strip().splitlines()[-1])
        report.update(slices=n_slices, input_gib=round(os.path.getsize(path) / 2**30, 3), threads=threads)
        return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=("throughput", "memory", "both"), default="both")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--slices", type=int, default=200, help="slices of the memory benchmark's stack")
    parser.add_argument("--size", type=int, default=1024, help="side of the memory benchmark's slices")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("STACK", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        memory_child(*args.child, args.threads)
        return
    print(json.dumps({"load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count()}))
    if args.part in ("throughput", "both"):
        print(json.dumps({"throughput": throughput(512, 20, args.threads, args.repeats)}))
    if args.part in ("memory", "both"):
        print(json.dumps({"memory": memory(args.slices, args.size, args.threads)}))


if __name__ == "__main__":
    main()
