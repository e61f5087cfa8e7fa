"""Quality tables: our presets and the classical baselines on the same images and scribbles.

Every function returns a list of rows (dicts) that ``run.py`` prints and saves.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from benchmarks import baselines, metric
from benchmarks.datasets import BsdsImage, ScribbleImage

RESULTS = Path(__file__).resolve().parent / "results"
Method = Callable[[np.ndarray, np.ndarray | None], np.ndarray]


def _felzenszwalb(image: np.ndarray, _scribbles: object, *, scale: float, sigma: float, min_size: int) -> np.ndarray:
    return baselines.felzenszwalb(image, scale, sigma, min_size)


def _kmeans(image: np.ndarray, _scribbles: object, *, k: int) -> np.ndarray:
    return baselines.kmeans_colour(image, k)


def diffseg(preset: str = "fast", seed: int = 0, **params) -> Method:
    """Our ``segment`` with a preset, seed and overrides, as a method of (image, scribbles)."""
    from napari_diffseg import segment

    def method(image: np.ndarray, scribbles: np.ndarray | None = None) -> np.ndarray:
        return segment(image, scribbles, preset=preset, seed=seed, device="cpu", **params)

    return method


def _timed(method: Method, image: np.ndarray, scribbles: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    labels = method(image, scribbles)
    return labels, time.perf_counter() - start


def bsds_rows(images: Sequence[BsdsImage], split: str, *, grid: bool = True) -> list[dict]:
    """Fast preset, best Felzenszwalb of a small grid, best k-means, one-segment "blank"."""
    annotations = [item.truths for item in images]
    rows = []

    def score(name: str, predictions: list[np.ndarray], seconds: list[float]) -> dict:
        row = {"set": f"BSDS {split} ({len(images)})", "method": name, **metric.bsds_miou(predictions, annotations)}
        row["median_s"] = float(np.median(seconds)) if seconds else None
        return row

    fast = [_timed(diffseg("fast"), item.image) for item in images]
    rows.append(score("diffseg fast", [p for p, _ in fast], [s for _, s in fast]))
    felzenszwalb_grid = baselines.FELZENSZWALB_GRID if grid else baselines.FELZENSZWALB_GRID[2:3]
    candidates = []
    for scale, sigma, min_size in felzenszwalb_grid:
        runs = [
            _timed(functools.partial(_felzenszwalb, scale=scale, sigma=sigma, min_size=min_size), item.image)
            for item in images
        ]
        candidates.append(
            score(
                f"felzenszwalb scale={scale} sigma={sigma} min_size={min_size}",
                [p for p, _ in runs],
                [s for _, s in runs],
            )
        )
    rows.append(max(candidates, key=lambda row: row["all"]))
    kmeans_grid = baselines.KMEANS_GRID if grid else baselines.KMEANS_GRID[1:2]
    candidates = []
    for k in kmeans_grid:
        runs = [_timed(functools.partial(_kmeans, k=k), item.image) for item in images]
        candidates.append(score(f"k-means colour k={k}", [p for p, _ in runs], [s for _, s in runs]))
    rows.append(max(candidates, key=lambda row: row["all"]))
    rows.append(score("blank (one segment)", [np.ones(item.image.shape[:2], np.uint8) for item in images], []))
    return rows


def paper_subset_rows(images: Sequence[BsdsImage]) -> list[dict]:
    """The paper preset's saved labels (``paper_subset.py``) against ours on the same images.

    Uses each image's final labels, or the latest checkpoint of an unfinished run; the row
    says how many iterations the labels had.
    """
    paper, iterations = [], []
    for item in images:
        saved = RESULTS / f"paper_{item.name}.npz"
        if not saved.exists():
            return []
        with np.load(saved) as arrays:
            key = (
                f"{item.name}_final"
                if f"{item.name}_final" in arrays
                else max(arrays.files, key=lambda k: int(k.rsplit("iter", 1)[1]))
            )
            paper.append(arrays[key])
        record = json.loads((RESULTS / f"paper_{item.name}.json").read_text())["images"][item.name]
        iterations.append(f"{record['iterations']}{'' if record['done'] else '+'}")
    annotations = [item.truths for item in images]
    subset = f"BSDS paper subset ({', '.join(item.name for item in images)})"
    fast = [_timed(diffseg("fast"), item.image) for item in images]
    return [
        {
            "set": subset,
            "method": f"diffseg paper (iterations: {', '.join(iterations)})",
            **metric.bsds_miou(paper, annotations),
            "median_s": None,
        },
        {
            "set": subset,
            "method": "diffseg fast",
            **metric.bsds_miou([p for p, _ in fast], annotations),
            "median_s": float(np.median([s for _, s in fast])),
        },
    ]


def voc_scribble_rows(images: Sequence[ScribbleImage]) -> list[dict]:
    """The paper's VOC scribbles: pooled mIoU of every class segment (void ignored)."""
    rows = []
    for name, method in (("diffseg fast", diffseg("fast")), ("random forest", baselines.random_forest)):
        runs = [_timed(method, item.image, item.scribbles) for item in images]
        rows.append(
            {
                "set": f"VOC scribbles ({len(images)})",
                "method": name,
                "mIoU": metric.pooled_miou([p for p, _ in runs], [item.truth for item in images], metric.VOID),
                "median_s": float(np.median([s for _, s in runs])),
            }
        )
    return rows


def foreground_rows(images: Sequence[ScribbleImage], set_name: str, *, instances: bool = False) -> list[dict]:
    """Foreground (id 1) / background (id 2) strokes: mean foreground IoU (and instance F1)."""
    void = None if instances else metric.VOID
    rows = []
    for name, method in (("diffseg fast", diffseg("fast")), ("random forest", baselines.random_forest)):
        runs = [_timed(method, item.image, item.scribbles) for item in images]
        ious = [metric.foreground_iou(p == 1, item.truth, void) for (p, _), item in zip(runs, images, strict=True)]
        row = {
            "set": f"{set_name} ({len(images)})",
            "method": name,
            "foreground IoU": float(np.mean(ious)),
            "per image": [round(v, 3) for v in ious],
            "median_s": float(np.median([s for _, s in runs])),
        }
        if instances:
            row["instance F1@0.5"] = float(
                np.mean([metric.instance_f1(p == 1, item.truth) for (p, _), item in zip(runs, images, strict=True)])
            )
        rows.append(row)
    return rows
