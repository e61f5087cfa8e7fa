"""Unsupervised quality (no scribbles) on BSDS500: the fast preset, its previous refinement, none, and baselines.

    python -m benchmarks.unsupervised --split train --seeds 0          # tuning images
    python -m benchmarks.unsupervised --split val --seeds 0,1,2,3      # confirmation, once
    python -m benchmarks.unsupervised --timing                         # speed ratio and peak memory

Each image is trained once per seed with the fast preset (1 torch thread) and labelled three
times with the same network: with the preset's region vote and split, with the previous
preset's vote alone (``PREVIOUS``) and with neither (``NO_VOTE``). Baselines
(seed-independent) are scored in the same run on the same images; the best point of each grid
is chosen on the very images it is scored on. Results go to
``benchmarks/results/unsupervised_<split><tag>.json`` (rewritten after every seed).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks import baselines, datasets, metric

RESULTS = Path(__file__).resolve().parent / "results"
NO_VOTE = {"region_scale": 0.0, "split_scale": 0.0}  # the fast preset without the region vote and split
PREVIOUS = {"region_scale": 25.0, "split_scale": 0.0}  # the fast preset before the split (same training)
TODAY = {"unsupervised_max_iter": None, "region_scale": 0.0}  # the fast preset before the stopping and region levers
FELZENSZWALB_GRID = ((100, 0.5, 50), *baselines.FELZENSZWALB_GRID)
SLIC_GRID = (10, 25, 50, 100)
TIMING_IMAGE = "12003"  # a 481x321 photo of the tuning folder


def slic(image: np.ndarray, n_segments: int) -> np.ndarray:
    """scikit-image SLIC superpixels as a segmentation (compactness 10)."""
    from skimage.segmentation import slic as superpixels

    return superpixels(image, n_segments=n_segments, compactness=10, start_label=1)


def diffseg_rows(items: list[datasets.BsdsImage], seed: int, saved: Path | None = None) -> list[dict]:
    """The fast preset, its previous refinement and none, one training per image.

    With ``saved`` (an ``.npz`` of the labels without the vote per image, from an earlier
    run of this seed), no network is trained: the other labels are those labels refined as
    :class:`~napari_diffseg.Segmenter` refines them.
    """
    from napari_diffseg import Segmenter
    from napari_diffseg.params import PRESETS
    from napari_diffseg.preprocess import prepare_image
    from napari_diffseg.regions import refine_labels

    annotations = [item.truths for item in items]
    p = PRESETS["fast"]
    new, voted, previous, seconds = [], [], [], []
    for item in items:
        if saved is not None:
            with np.load(saved) as arrays:
                previous.append(arrays[item.name])
            data = prepare_image(item.image, normalization=p.normalization, color_space=p.color_space)
            new.append(refine_labels(previous[-1], data, region_scale=p.region_scale, split_scale=p.split_scale))
            voted.append(refine_labels(previous[-1], data, **PREVIOUS))
            continue
        start = time.perf_counter()
        segmenter = Segmenter("fast", seed=seed, device="cpu", threads=1)
        segmenter.fit(item.image)
        new.append(segmenter.labels())
        seconds.append(time.perf_counter() - start)
        segmenter.set_params(**PREVIOUS)
        voted.append(segmenter.labels())
        segmenter.set_params(**NO_VOTE)
        previous.append(segmenter.labels())
    rows = []
    for name, predictions in (
        ("diffseg fast", new),
        (f"diffseg fast, previous refinement ({json.dumps(PREVIOUS)})", voted),
        (f"diffseg fast without the vote ({json.dumps(NO_VOTE)})", previous),
    ):
        row = {"method": name, "seed": seed, **metric.bsds_miou(predictions, annotations)}
        row["median labels"] = float(np.median([np.unique(p).size for p in predictions]))
        rows.append(row)
    if seconds:
        rows[0]["median_s (1 thread, shared CPU)"] = float(np.median(seconds))
    return rows, {item.name: p for item, p in zip(items, previous, strict=True)}


def baseline_rows(items: list[datasets.BsdsImage], out: list[dict], save: Callable[[], None]) -> None:
    """Every grid point of Felzenszwalb, k-means on colour and SLIC into ``out`` (``save()`` after each);
    the best point of each grid is marked."""
    annotations = [item.truths for item in items]
    blank = [np.ones(item.image.shape[:2], np.uint8) for item in items]
    out.append({"method": "blank (one segment)", **metric.bsds_miou(blank, annotations)})
    methods = [
        (f"felzenszwalb scale={scale} sigma={sigma} min_size={size}", baselines.felzenszwalb, (scale, sigma, size))
        for scale, sigma, size in FELZENSZWALB_GRID
    ]
    methods += [(f"slic n_segments={n} compactness=10", slic, (n,)) for n in SLIC_GRID]
    methods += [(f"k-means colour k={k}", baselines.kmeans_colour, (k,)) for k in baselines.KMEANS_GRID]
    for name, method, args in methods:
        predictions = [method(item.image, *args) for item in items]
        out.append({"method": name, **metric.bsds_miou(predictions, annotations)})
        for family in ("felzenszwalb", "slic", "k-means"):
            grid = [row for row in out if row["method"].startswith(family)]
            for row in grid:
                row.pop("best of its grid (tuned on these images)", None)
            if grid:
                max(grid, key=lambda row: row["all"])["best of its grid (tuned on these images)"] = True
        save()


def scribble_rows(seeds: list[int]) -> list[dict]:
    """The scribble sets with the fast preset and with ``TODAY``'s settings (the vote is off with scribbles)."""
    from napari_diffseg import segment

    sets = (
        ("VOC scribbles mIoU", datasets.load_voc_scribbles(), None),
        ("fg/bg photos foreground IoU", datasets.load_voc_foreground(), metric.VOID),
        ("nuclei2d foreground IoU", datasets.load_nuclei(), "instances"),
    )
    rows = []
    for seed in seeds:
        for name, overrides in (("diffseg fast", {}), (f"diffseg fast before ({json.dumps(TODAY)})", TODAY)):
            row: dict = {"method": name, "seed": seed}
            for set_name, items, void in sets:
                labels = [
                    segment(item.image, item.scribbles, seed=seed, device="cpu", threads=1, **overrides)
                    for item in items
                ]
                if set_name.startswith("VOC"):
                    row[set_name] = metric.pooled_miou(labels, [item.truth for item in items], metric.VOID)
                else:
                    ious = [
                        metric.foreground_iou(p == 1, item.truth, None if void == "instances" else void)
                        for p, item in zip(labels, items, strict=True)
                    ]
                    row[set_name] = float(np.mean(ious))
            rows.append(row)
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    return rows


def timing(rounds: int) -> dict:
    """Whole ``segment`` calls of the fast preset and of the previous one (``PREVIOUS``), interleaved."""
    import torch

    from napari_diffseg import segment

    torch.set_num_threads(2)
    image = datasets.load_bsds([TIMING_IMAGE])[0].image
    segment(image[:64, :64], device="cpu", max_iter=2)  # warm-up
    times: dict[str, list[float]] = {"fast": [], "before": []}
    for _ in range(rounds):
        for name, overrides in (("before", PREVIOUS), ("fast", {})):
            start = time.perf_counter()
            segment(image, device="cpu", seed=0, **overrides)
            times[name].append(time.perf_counter() - start)
    medians = {name: float(np.median(values)) for name, values in times.items()}
    out = {
        "image": f"{TIMING_IMAGE} ({image.shape[1]}x{image.shape[0]})",
        "rounds": rounds,
        "median_s": medians,
        "before": PREVIOUS,
        "ratio fast / before": medians["fast"] / medians["before"],
    }
    for name, overrides in (("before", PREVIOUS), ("fast", {})):
        child = [sys.executable, "-m", "benchmarks.unsupervised", "--memory-child", json.dumps(overrides)]
        out[f"peak RSS GiB at 2048x2048, {name}"] = float(subprocess.check_output(child, text=True).split()[-1])
    return out


def memory_child(overrides: dict) -> None:
    """In a fresh process: segment a 2048x2048 photo, print the peak RSS in GiB."""
    import torch
    from skimage import data
    from skimage.transform import resize

    from napari_diffseg import segment

    torch.set_num_threads(2)
    image = (resize(data.astronaut(), (2048, 2048), anti_aliasing=True) * 255).astype(np.uint8)
    segment(image, device="cpu", seed=0, **overrides)
    status = Path("/proc/self/status").read_text()
    kib = int(next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1])
    print(kib / 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("train", "val"), default="train", help="train: tune; val: confirm")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (empty: baselines only)")
    parser.add_argument("--limit", type=int, default=None, help="first N images only")
    parser.add_argument("--no-baselines", action="store_true", help="skip the classical baselines")
    parser.add_argument("--timing", action="store_true", help="speed ratio and peak memory instead of quality")
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds")
    parser.add_argument("--scribbles", action="store_true", help="the scribble sets instead of BSDS")
    parser.add_argument("--labels", default=None, help="folder for the labels without the vote (npz per seed)")
    parser.add_argument("--rescore", action="store_true", help="score labels saved in --labels instead of training")
    parser.add_argument("--tag", default="", help="suffix of the results file")
    parser.add_argument("--memory-child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child is not None:
        memory_child(json.loads(args.memory_child))
        return
    if not datasets.data_available():
        sys.exit("the development data is absent: nothing to score (see docs/benchmarks.md)")
    RESULTS.mkdir(exist_ok=True)
    if args.timing:
        out = timing(args.rounds)
        print(json.dumps(out, indent=1))
        (RESULTS / "unsupervised_timing.json").write_text(json.dumps(out, indent=1))
        return
    import torch

    torch.set_num_threads(1)
    if args.scribbles:
        out = {"rows": scribble_rows([int(s) for s in args.seeds.split(",") if s])}
        (RESULTS / f"unsupervised_scribbles{args.tag}.json").write_text(json.dumps(out, indent=1))
        return
    folder = datasets.BSDS_TUNE if args.split == "train" else datasets.BSDS_CONFIRM
    names = datasets.bsds_names(folder=folder)[: args.limit]
    items = datasets.load_bsds(names)
    out_path = RESULTS / f"unsupervised_{args.split}{args.tag}.json"
    labels_dir = None if args.labels is None else Path(args.labels)
    out: dict = {"split": f"{folder} ({len(items)} images)", "without the vote": NO_VOTE, "rows": []}
    if not args.no_baselines:
        baseline_rows(items, out["rows"], lambda: out_path.write_text(json.dumps(out, indent=1)))
    for seed in (int(s) for s in args.seeds.split(",") if s):
        saved = labels_dir / f"{args.split}_seed{seed}.npz" if labels_dir is not None else None
        rows, previous = diffseg_rows(items, seed, saved if args.rescore else None)
        if saved is not None and not args.rescore:
            saved.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(saved, **previous)
        out["rows"] += rows
        for row in rows:
            print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
        out_path.write_text(json.dumps(out, indent=1))
    print(f"wrote {out_path}")


if __name__ == "__main__":
    main()
