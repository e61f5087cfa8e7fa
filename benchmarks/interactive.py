"""Robot-user benchmark of scribble segmentation: ``python -m benchmarks.interactive``.

Round 0 uses the given strokes; each later round adds one corrective stroke, a disk of radius
4 px at the deepest point (largest distance to its border) of the largest wrongly labelled
region, with the true class there (clipped to the pixels of that class). Every method starts
from the same strokes and gets its own corrections. Rounds 0..5 by default.

Data sets (``--sets``): ``voc_fg`` (the six VOC photos, generated foreground/background
strokes), ``voc_multi`` (the same photos, multi-class, with their published scribbles),
``bsds`` (BSDS500 train images whose coarsest annotation has 2..8 segments, one short stroke
per segment at its deepest point; ``--bsds-split tune|held`` as in ``datasets.bsds_split``,
``val`` for the held-back BSDS500 val images), ``nuclei`` (nuclei2d, fg/bg) and ``dapi`` (the
DAPI tissue nuclei, fg/bg; the first image of each organ and magnification of ``--dapi-mags``,
up to ``--limit``).

Methods (``--methods``), ours train once on round 0 and then ``refine`` per stroke: ``auto``
(the fast preset as it is: the context readout on colour images, the linear one on others,
corrections refit the readout without training the network, ``correction="refit"``), ``today``
(the linear readout, corrections train: the fast preset before ``auto``), ``linear_refit`` (the
linear readout, corrections refit), ``context`` / ``context_refit`` (the context readout,
corrections train / refit), ``spatial`` / ``spatial_train`` (the spatial readout, corrections
refit / train), ``grabcut`` (OpenCV, 5 iterations, strokes fixed, the bounding box of the foreground
strokes "probably foreground", the rest "probably background"), ``grabcut_nobox`` (everything
unpainted "probably background"), ``walker`` (scikit-image random walker, beta 130, pyamg) and
``forest`` (scikit-image trainable segmentation). GrabCut is two-class only: it is skipped on
the multi-class sets. Our methods run over ``--seeds``; the peers are deterministic (seed 0).

Scores: foreground IoU on fg/bg sets, the mean over classes of the class IoU on multi-class
sets (void ignored). Results go to ``results/interactive.json`` (one record per data set,
image, method and seed; resumable: records already there are skipped) and a Markdown table
``results/interactive.md`` (seconds also as ratios to ``today`` on the same data set, which ran
interleaved in the same process); ``--plot`` draws ``docs/interactive.png``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks import datasets

RESULTS = Path(__file__).resolve().parent / "results"
PLOT = Path(__file__).resolve().parents[1] / "docs" / "interactive.png"
DISK_RADIUS = 4
MULTI_SETS = ("voc_multi", "bsds")
SETS = ("voc_fg", "voc_multi", "bsds", "nuclei", "dapi")
OURS = ("auto", "today", "linear_refit", "context", "context_refit", "spatial", "spatial_train")
METHODS = (*OURS, "grabcut", "grabcut_nobox", "walker", "forest")


@dataclass(frozen=True)
class Task:
    """One image of a data set: ``truth`` holds the id each pixel should get (0 = void)."""

    dataset: str
    name: str
    image: np.ndarray
    truth: np.ndarray
    scribbles: np.ndarray


# ---------------------------------------------------------------- data
def fg_bg_truth(foreground: np.ndarray, void: np.ndarray | None = None) -> np.ndarray:
    """Ids 1 (foreground) / 2 (background), 0 where void."""
    truth = np.where(foreground, 1, 2).astype(np.uint16)
    if void is not None:
        truth[void] = 0
    return truth


def deepest_strokes(segments: np.ndarray, length: int = 15) -> np.ndarray:
    """One horizontal stroke of ``length`` px per segment (ids > 0) through its deepest point."""
    from scipy import ndimage

    scribbles = np.zeros(segments.shape, np.uint16)
    for value in np.unique(segments[segments > 0]):
        region = segments == value
        depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
        row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
        cols = np.arange(max(0, col - length // 2), min(region.shape[1], col + length // 2 + 1))
        scribbles[row, cols[region[row, cols]]] = value
    return scribbles


def load_tasks(
    name: str, limit: int | None, bsds_split: str, dapi_mags: tuple[str, ...] = ("20x", "40x", "63x")
) -> list[Task]:
    """The tasks of data set ``name`` (empty when the data is absent)."""
    import tifffile

    tasks: list[Task] = []
    if name == "voc_fg":
        for item in datasets.load_voc_foreground():
            truth = fg_bg_truth(item.truth == 1, item.truth == 255)
            tasks.append(Task(name, item.name, item.image, truth, item.scribbles.astype(np.uint16)))
    elif name == "voc_multi":
        for item in datasets.load_voc_scribbles():
            truth = np.where(item.truth == 255, 0, item.truth.astype(np.int64) + 1).astype(np.uint16)
            tasks.append(Task(name, item.name, item.image, truth, item.scribbles.astype(np.uint16)))
    elif name == "bsds":
        if bsds_split == "val":
            names = sorted(p.stem for p in (datasets.DATA_ROOT / "bsds500_val" / "images").glob("*.jpg"))
            items = _load_bsds_folder(names, datasets.DATA_ROOT / "bsds500_val")
        else:
            tune, held = datasets.bsds_split()
            items = datasets.load_bsds(tune if bsds_split == "tune" else held)
        for item in items:
            truth = min(item.truths, key=lambda t: np.unique(t).size)
            if 2 <= np.unique(truth).size <= 8:
                tasks.append(Task(name, item.name, item.image, truth.astype(np.uint16), deepest_strokes(truth)))
    elif name == "nuclei":
        for item in datasets.load_nuclei():
            tasks.append(
                Task(name, item.name, item.image, fg_bg_truth(item.truth > 0), item.scribbles.astype(np.uint16))
            )
    elif name == "dapi":
        folder = datasets.DATA_ROOT / "nuclei_dapi_tissue"
        seen: set[str] = set()
        for path in sorted((folder / "images").glob("*.tif")) if folder.is_dir() else []:
            group = path.stem.rsplit("_", 1)[0]  # organ and magnification
            if group in seen or group.split("_")[1] not in dapi_mags:
                continue
            seen.add(group)
            image, mask = tifffile.imread(path), tifffile.imread(folder / "labels" / path.name)
            scribbles = datasets.nuclei_scribbles(mask, n_nuclei=8, n_background=6, seed=0).astype(np.uint16)
            tasks.append(Task(name, path.stem, image, fg_bg_truth(mask > 0), scribbles))
    else:
        raise SystemExit(f"unknown data set {name!r}; choose from {', '.join(SETS)}")
    return tasks[:limit] if limit else tasks


def _load_bsds_folder(names: list[str], folder: Path) -> list[datasets.BsdsImage]:
    from scipy.io import loadmat
    from skimage.io import imread

    out = []
    for name in names:
        cells = loadmat(folder / "groundTruth" / f"{name}.mat")["groundTruth"][0]
        truths = tuple(np.asarray(cell["Segmentation"][0, 0]) for cell in cells)
        out.append(datasets.BsdsImage(name, imread(folder / "images" / f"{name}.jpg"), truths))
    return out


# ---------------------------------------------------------------- robot user and score
def score(labels: np.ndarray, truth: np.ndarray, multi: bool) -> float:
    """Foreground IoU (id 1) on fg/bg tasks, mean class IoU on multi-class ones; void (0) ignored."""
    keep = truth > 0
    ids = np.unique(truth[keep]) if multi else np.array([1])
    ious = []
    for value in ids:
        predicted, actual = (labels == value) & keep, truth == value
        union = np.logical_or(predicted, actual).sum()
        ious.append(np.logical_and(predicted, actual).sum() / union if union else 1.0)
    return float(np.mean(ious))


def correct(labels: np.ndarray, truth: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """``scribbles`` plus a disk at the deepest point of the largest wrongly labelled region."""
    from scipy import ndimage

    wrong = (truth > 0) & (labels != truth)
    regions, count = ndimage.label(wrong)
    out = scribbles.copy()
    if not count:
        return out
    sizes = np.bincount(regions.ravel(), minlength=count + 1)[1:]
    region = regions == 1 + int(np.argmax(sizes))
    depth = ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(depth)), depth.shape)
    value = truth[row, col]
    rows, cols = np.ogrid[: truth.shape[0], : truth.shape[1]]
    disk = ((rows - row) ** 2 + (cols - col) ** 2 <= DISK_RADIUS**2) & (truth == value)
    out[disk] = value
    return out


# ---------------------------------------------------------------- methods
class Ours:
    """The fast preset: train once on round 0, then ``refine`` + ``labels`` per stroke."""

    def __init__(self, seed: int, **overrides):
        self.seed, self.overrides, self.model = seed, overrides, None

    def __call__(self, image: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
        from napari_diffseg import Segmenter

        if self.model is None:
            self.model = Segmenter("fast", seed=self.seed, threads=1, **self.overrides).fit(image, scribbles)
        else:
            list(self.model.refine(scribbles))
        return self.model.labels()


def as_uint8_rgb(image: np.ndarray) -> np.ndarray:
    """The image as 8-bit RGB (percentile-stretched when it is not 8-bit)."""
    data = np.asarray(image, dtype=np.float64)
    if image.dtype != np.uint8:
        low, high = np.percentile(data, (1, 99.8))
        data = np.clip((data - low) / max(high - low, 1e-12), 0, 1) * 255
    data = data.astype(np.uint8)
    return np.repeat(data[..., None], 3, -1) if data.ndim == 2 else np.ascontiguousarray(data[..., :3])


def grabcut(image: np.ndarray, scribbles: np.ndarray, box: bool) -> np.ndarray:
    """OpenCV GrabCut, 5 iterations, strokes fixed (ids 1 = fg, 2 = bg)."""
    import cv2

    mask = np.full(scribbles.shape, cv2.GC_PR_BGD, np.uint8)
    if box:
        rows, cols = np.nonzero(scribbles == 1)
        mask[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = cv2.GC_PR_FGD
    mask[scribbles == 1], mask[scribbles == 2] = cv2.GC_FGD, cv2.GC_BGD
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.grabCut(as_uint8_rgb(image), mask, None, bgd, fgd, 5, cv2.GC_INIT_WITH_MASK)
    return np.where((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD), 1, 2).astype(np.uint16)


def walker(image: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    """scikit-image random walker, beta 130, on the image scaled to [0, 1] (pyamg solver)."""
    from skimage.segmentation import random_walker

    data = as_uint8_rgb(image).astype(np.float64) / 255 if image.ndim == 3 else None
    if data is None:
        data = as_uint8_rgb(image)[..., 0].astype(np.float64) / 255
    return random_walker(data, scribbles, beta=130, mode="cg_mg", channel_axis=-1 if data.ndim == 3 else None)


def forest(image: np.ndarray, scribbles: np.ndarray) -> np.ndarray:
    from benchmarks.baselines import random_forest

    return random_forest(image, scribbles)


def make_method(method: str, seed: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    ours = {
        "auto": {},
        "today": {"readout": "linear", "correction": "train"},
        "linear_refit": {"readout": "linear"},
        "context": {"readout": "context", "correction": "train"},
        "context_refit": {"readout": "context"},
        "spatial": {"readout": "spatial"},
        "spatial_train": {"readout": "spatial", "correction": "train"},
    }
    if method in ours:
        return Ours(seed, **ours[method])
    if method == "grabcut":
        return lambda image, scribbles: grabcut(image, scribbles, box=True)
    if method == "grabcut_nobox":
        return lambda image, scribbles: grabcut(image, scribbles, box=False)
    if method == "walker":
        return walker
    if method == "forest":
        return forest
    raise SystemExit(f"unknown method {method!r}; choose from {', '.join(METHODS)}")


def run_task(task: Task, method: str, seed: int, rounds: int) -> dict:
    """Rounds 0..``rounds`` of one method on one task."""
    multi = task.dataset in MULTI_SETS
    segment = make_method(method, seed)
    scribbles = task.scribbles.copy()
    ious, seconds = [], []
    for _ in range(rounds + 1):
        start = time.perf_counter()
        labels = np.asarray(segment(task.image, scribbles))
        seconds.append(time.perf_counter() - start)
        ious.append(score(labels, task.truth, multi))
        scribbles = correct(labels, task.truth, scribbles)
    return {"dataset": task.dataset, "image": task.name, "method": method, "seed": seed, "iou": ious, "s": seconds}


# ---------------------------------------------------------------- summary
def strokes_to(ious: list[float], threshold: float) -> int | None:
    """Corrective strokes until the IoU first reaches ``threshold`` (None: not within the rounds)."""
    return next((i for i, value in enumerate(ious) if value >= threshold), None)


def summarise(records: list[dict]) -> dict:
    """Per data set and method: mean IoU per round, strokes to 85/90 %, seconds per round, worst drop."""
    out: dict = {}
    for dataset in SETS:
        for method in METHODS:
            rows = [r for r in records if r["dataset"] == dataset and r["method"] == method]
            if not rows:
                continue
            ious = np.array([r["iou"] for r in rows])
            reached = {t: [strokes_to(r["iou"], t) for r in rows] for t in (0.85, 0.9)}
            out.setdefault(dataset, {})[method] = {
                "runs": len(rows),
                "mean iou": ious.mean(0).round(4).tolist(),
                "median strokes to 0.85": _median_strokes(reached[0.85]),
                "median strokes to 0.90": _median_strokes(reached[0.9]),
                "share reaching 0.90": round(float(np.mean([v is not None for v in reached[0.9]])), 3),
                "median s round 0": round(float(np.median([r["s"][0] for r in rows])), 3),
                "median s per correction": round(float(np.median([s for r in rows for s in r["s"][1:]])), 3),
                "runs ending > 0.02 below round 0": int(((ious[:, -1] - ious[:, 0]) < -0.02).sum()),
            }
    return out


def _median_strokes(values: list[int | None]) -> float | None:
    """Median over runs, counting a run that never got there as infinitely many strokes."""
    ordered = sorted(np.inf if v is None else v for v in values)
    median = float(np.median(ordered))
    return None if np.isinf(median) else median


def markdown(summary: dict) -> str:
    lines = []
    for dataset, methods in summary.items():
        n_rounds = len(next(iter(methods.values()))["mean iou"])
        lines += [
            f"### {dataset}",
            "",
            "| method | runs | "
            + " | ".join(str(i) for i in range(n_rounds))
            + " | strokes to 85% | strokes to 90% | s round 0 | s per correction | x today (round 0, correction)"
            " | runs ending below round 0 |",
            "|---|---|" + "---|" * n_rounds + "---|---|---|---|---|---|",
        ]
        base = methods.get("today")
        for method, row in methods.items():
            ratio = "-"
            if base and base["median s round 0"] and base["median s per correction"]:
                ratio = (
                    f"{row['median s round 0'] / base['median s round 0']:.2f}, "
                    f"{row['median s per correction'] / base['median s per correction']:.2f}"
                )
            cells = [f"{v:.3f}" for v in row["mean iou"]]
            to = [
                "-" if row[k] is None else f"{row[k]:g}" for k in ("median strokes to 0.85", "median strokes to 0.90")
            ]
            lines.append(
                f"| {method} | {row['runs']} | " + " | ".join(cells) + f" | {to[0]} | {to[1]} | "
                f"{row['median s round 0']:.2f} | {row['median s per correction']:.2f} | {ratio} | "
                f"{row['runs ending > 0.02 below round 0']} |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(summary: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(summary), figsize=(3.2 * len(summary), 3), squeeze=False, sharey=True)
    for ax, (dataset, methods) in zip(axes[0], summary.items(), strict=True):
        for method, row in methods.items():
            colour = plt.get_cmap("tab20")(METHODS.index(method))  # one colour per method in every panel
            first = method == OURS[0]  # the default, drawn on top of the variants it equals on some sets
            ax.plot(
                range(len(row["mean iou"])),
                row["mean iou"],
                marker="o",
                ms=3,
                color=colour,
                label=method,
                lw=2.5 if first else 1.2,
                zorder=3 if first else 2,
            )
        ax.set_title(dataset)
        ax.set_xlabel("corrective strokes")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("mean IoU")
    handles = {line.get_label(): line for ax in axes[0] for line in ax.get_lines()}
    axes[0, -1].legend(handles.values(), handles.keys(), fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help='comma-separated data sets ("none": only summarise)')
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default="0", help="comma-separated seeds of our methods")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per data set")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bsds-split", default="tune", choices=("tune", "held", "val"))
    parser.add_argument("--dapi-mags", default="20x,40x,63x", help="comma-separated DAPI magnifications")
    parser.add_argument("--out", default=str(RESULTS / "interactive.json"))
    parser.add_argument(
        "--plot", nargs="?", const=str(PLOT), default=None, help="also draw the plot (default: docs/interactive.png)"
    )
    parser.add_argument("--merge", default="", help="comma-separated result files whose records join --out first")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    out = Path(args.out)
    records = json.loads(out.read_text())["records"] if out.exists() else []
    for path in filter(None, args.merge.split(",")):
        records += json.loads(Path(path).read_text())["records"]
    done = {(r["dataset"], r["image"], r["method"], r["seed"]) for r in records}
    seeds = [int(s) for s in args.seeds.split(",")]
    for dataset in [s for s in args.sets.split(",") if s != "none"]:
        for task in load_tasks(dataset, args.limit, args.bsds_split, tuple(args.dapi_mags.split(","))):
            for method in args.methods.split(","):
                if method.startswith("grabcut") and dataset in MULTI_SETS:
                    continue
                for seed in seeds if method in OURS else [0]:
                    if (dataset, task.name, method, seed) in done:
                        continue
                    records.append(run_task(task, method, seed, args.rounds))
                    done.add((dataset, task.name, method, seed))
                    r = records[-1]
                    print(dataset, task.name, method, seed, [round(v, 3) for v in r["iou"]], flush=True)
                    summary = summarise(records)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text(json.dumps({"summary": summary, "records": records}, indent=1))
    summary = summarise(records)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "records": records}, indent=1))
    out.with_suffix(".md").write_text(markdown(summary))
    print(markdown(summary))
    if args.plot:
        plot(summary, Path(args.plot))


if __name__ == "__main__":
    main()
