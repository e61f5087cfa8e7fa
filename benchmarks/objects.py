"""Objects from classes: ``python -m benchmarks.objects [--sets ...] [--seeds 0,1,2,3] [--limit N]``.

Protocol, per image and seed: five short strokes inside random nuclei (id 1) and five in the
background (id 2), drawn from the ground truth (``datasets.nuclei_scribbles``); ours is
``napari_diffseg.segment(image, strokes, seed=seed, threads=1)`` then
``split_instances(labels, classes=[1], image=image)`` (defaults: ``tighten=0.6``). Peers in the
same run: Otsu + connected components and Otsu + distance-transform watershed (both
grid-searched on the 40x tissue images, ``--tune-peers``), scikit-image's trainable
segmentation (random forest) on the same strokes +
components; also components of our class 1 (the step before objects) and ``split_instances`` on
the true foreground (how far the foreground limits the objects). Scores: instance F1 at IoU 0.5
(one-to-one matching, ``match``), mean IoU of the matched pairs, foreground IoU; CPU seconds per
megapixel of ``split_instances`` + ``measure_objects`` beside Otsu + watershed + ``measure_objects``.
Sets: the DAPI tissue nuclei at 40x (tuning), at 20x and 63x (held back), and nuclei2d. Results
go to ``results/objects.json`` and ``results/objects.md``; segmentations are cached in ``out/``.
``--speed`` times the object step alone, CPU and wall time, with the default threads and with one
(``results/objects_speed.json``). ``--corrections N`` scores ours after 0..N corrective strokes of
the robot user of ``benchmarks.interactive`` (a disk at the deepest point of the largest wrongly
labelled region, with its true class, nuclei or background; the fast preset refits its readout
after each) against the same peers (``results/objects_corrections.{json,md}``; ``--jobs`` processes).
``--shapes`` splits synthetic fields of textured round to elongated nuclei, apart and touching,
whose class is exactly the nuclei (``results/objects_shapes.{json,md}``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks import baselines
from benchmarks.datasets import DATA_ROOT, nuclei_scribbles

OUT = Path(__file__).resolve().parent / "out" / "objects"
TISSUE = DATA_ROOT / "nuclei_dapi_tissue"
SETS = ("tissue40x", "tissue20x63x", "nuclei2d")


def set_names(name: str) -> list[str]:
    """Image names of one set, sorted."""
    if name == "nuclei2d":
        return ["nuclei2d"] if (DATA_ROOT / "nuclei2d").is_dir() else []
    tags = ("_40x_",) if name == "tissue40x" else ("_20x_", "_63x_")
    folder = TISSUE / "images"
    return sorted(p.name for p in folder.glob("*.tif") if any(t in p.name for t in tags)) if folder.is_dir() else []


def load(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(image, instance truth) of one image."""
    import tifffile

    if name == "nuclei2d":
        return tifffile.imread(DATA_ROOT / "nuclei2d" / "img2d.tif"), tifffile.imread(
            DATA_ROOT / "nuclei2d" / "mask2d.tif"
        )
    return tifffile.imread(TISSUE / "images" / name), tifffile.imread(TISSUE / "labels" / name)


def strokes(truth: np.ndarray, seed: int) -> np.ndarray:
    """Five short strokes in nuclei (id 1) and five in the background (id 2)."""
    return nuclei_scribbles(truth, n_nuclei=5, n_background=5, seed=seed)


def predictions(name: str, seed: int) -> dict[str, np.ndarray]:
    """Class maps of ours and of the random forest on one image and seed (cached in ``out/``)."""
    path = OUT / f"{Path(name).stem}_s{seed}.npz"
    if path.exists():
        with np.load(path) as cached:
            return dict(cached)
    import napari_diffseg

    image, truth = load(name)
    scribbles = strokes(truth, seed)
    start = time.perf_counter()
    ours = napari_diffseg.segment(image, scribbles, seed=seed, threads=1)
    seconds = time.perf_counter() - start
    forest = baselines.random_forest(image, scribbles)
    out = {"ours": ours.astype(np.uint8), "forest": forest.astype(np.uint8), "seconds": np.float64(seconds)}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(partial, **out)
    partial.replace(path)
    return out


def match(prediction: np.ndarray, truth: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Match predicted to true instances one to one (maximum total IoU, pairs above ``threshold``).

    Parameters
    ----------
    prediction, truth : numpy.ndarray
        Integer instance labels of the same shape, 0 = background (ids need not be consecutive).

    Returns
    -------
    dict
        ``tp``, ``n_pred``, ``n_true``, ``f1`` (1.0 when both are empty) and ``iou_sum`` (sum of
        the matched pairs' IoUs).
    """
    from scipy.optimize import linear_sum_assignment
    from skimage.segmentation import relabel_sequential

    prediction = relabel_sequential(np.asarray(prediction))[0].astype(np.int64)
    truth = relabel_sequential(np.asarray(truth))[0].astype(np.int64)
    n_pr, n_gt = int(prediction.max()), int(truth.max())
    joint = np.bincount(truth.ravel() * (n_pr + 1) + prediction.ravel(), minlength=(n_gt + 1) * (n_pr + 1))
    joint = joint.reshape(n_gt + 1, n_pr + 1)
    intersection = joint[1:, 1:]
    union = joint[1:, :].sum(1, keepdims=True) + joint[:, 1:].sum(0, keepdims=True) - intersection
    iou = intersection / np.maximum(union, 1)
    rows, cols = linear_sum_assignment(-iou) if iou.size else (np.array([], int), np.array([], int))
    matched = iou[rows, cols]
    matched = matched[matched > threshold]
    tp = int(matched.size)
    f1 = 2 * tp / (n_pr + n_gt) if n_pr + n_gt else 1.0
    return {"tp": tp, "n_pred": n_pr, "n_true": n_gt, "f1": f1, "iou_sum": float(matched.sum())}


def otsu_mask(image: np.ndarray, sigma: float) -> np.ndarray:
    """Otsu's threshold of the image smoothed over ``sigma`` pixels (0: unsmoothed)."""
    from skimage.filters import gaussian, threshold_otsu

    data = gaussian(image.astype(np.float32), sigma) if sigma else image
    return data > threshold_otsu(data)


def components(mask: np.ndarray, min_size: int = 0) -> np.ndarray:
    """Connected components (4-connected) of ``mask``, those under ``min_size`` pixels dropped."""
    from skimage.measure import label

    labels = label(mask, connectivity=1)
    sizes = np.bincount(labels.ravel())
    return np.where(sizes[labels] >= max(min_size, 1), labels, 0) * (labels > 0)


def otsu_watershed(image: np.ndarray, sigma: float, min_distance: int, min_size: int) -> np.ndarray:
    """The classical pipeline: Otsu mask, holes filled, seeds at distance-transform peaks
    ``min_distance`` pixels apart, watershed of the negative distance transform, small objects dropped."""
    from scipy import ndimage
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    mask = ndimage.binary_fill_holes(otsu_mask(image, sigma))
    parts = components(mask, min_size)
    distance = ndimage.distance_transform_edt(parts > 0)
    peaks = peak_local_max(distance, min_distance=min_distance, labels=parts, exclude_border=False)
    markers = np.zeros(mask.shape, np.int64)
    markers[tuple(peaks.T)] = np.arange(1, len(peaks) + 1)
    return watershed(-distance, markers, mask=parts > 0)


# Peers' parameters, tuned on the 40x tissue images (``--tune-peers``, mean instance F1 over the grid).
OTSU_GRID = [{"sigma": s, "min_size": m} for s in (0, 1, 2) for m in (0, 20, 50, 100)]
WATERSHED_GRID = [
    {"sigma": s, "min_distance": d, "min_size": m}
    for s in (0, 1, 2)
    for d in (3, 5, 7, 10, 14, 20, 28)
    for m in (20, 50)
]
OTSU = {"sigma": 1, "min_size": 100}
WATERSHED = {"sigma": 1, "min_distance": 14, "min_size": 100}


def peer_methods(otsu: dict, watershed: dict) -> dict:
    """Seed-independent classical peers: name -> function(image) -> instances."""
    return {
        "Otsu + components": lambda image: components(otsu_mask(image, otsu["sigma"]), otsu["min_size"]),
        "Otsu + watershed": lambda image: otsu_watershed(image, **watershed),
    }


def tune_peers(names: list[str]) -> dict:
    """Grid search of the classical peers on ``names`` (mean instance F1 at IoU 0.5)."""
    items = [load(name) for name in names]
    results = {}
    for key, grid, method in (
        ("otsu", OTSU_GRID, lambda image, p: components(otsu_mask(image, p["sigma"]), p["min_size"])),
        ("watershed", WATERSHED_GRID, lambda image, p: otsu_watershed(image, **p)),
    ):
        scores = [float(np.mean([match(method(image, p), truth)["f1"] for image, truth in items])) for p in grid]
        results[key] = {
            "best": grid[int(np.argmax(scores))],
            "best_f1": max(scores),
            "grid": list(zip(grid, scores, strict=True)),
        }
        print(key, results[key]["best"], round(max(scores), 4), flush=True)
    return results


def evaluate(name: str, seed: int, otsu: dict, watershed: dict) -> dict:
    """Every method's instance scores on one image and seed, and the time of our object step."""
    from napari_diffseg.objects import measure_objects, split_instances

    image, truth = load(name)
    predicted = predictions(name, seed)
    ours = predicted["ours"]
    start = time.process_time()
    instances = split_instances(ours, classes=[1], image=image)
    measure_objects(instances, image, labels=ours)
    seconds = time.process_time() - start
    start = time.process_time()
    classical = otsu_watershed(image, **watershed)
    measure_objects(classical, image)
    peer_seconds = time.process_time() - start
    methods = {
        "ours: split_instances": instances,
        "ours: components": components(ours == 1),
        "random forest + components": components(predicted["forest"] == 1),
        "Otsu + components": peer_methods(otsu, watershed)["Otsu + components"](image),
        "Otsu + watershed": classical,
        "split_instances on the true foreground": split_instances(truth > 0, image=image),
    }
    from benchmarks.metric import foreground_iou

    row = {
        "image": name,
        "seed": seed,
        "megapixels": truth.size / 1e6,
        "seconds": seconds,
        "peer_seconds": peer_seconds,
    }
    row["segment_seconds"] = float(predicted["seconds"])
    row["fg IoU ours: segment class 1"] = foreground_iou(ours == 1, truth, None)
    for method, labels in methods.items():
        row[method] = match(labels, truth) | {"fg_iou": foreground_iou(labels > 0, truth, None)}
    return row


def summarise(rows: list[dict]) -> dict:
    """Per method: mean F1 over images, pooled mean matched IoU, mean fg IoU."""
    methods = [key for key, value in rows[0].items() if isinstance(value, dict)]
    out = {}
    for method in methods:
        scores = [row[method] for row in rows]
        tp = sum(s["tp"] for s in scores)
        out[method] = {
            "f1": float(np.mean([s["f1"] for s in scores])),
            "matched_iou": sum(s["iou_sum"] for s in scores) / tp if tp else 0.0,
            "fg_iou": float(np.mean([s["fg_iou"] for s in scores])),
        }
    out["fg IoU ours: segment class 1"] = float(np.mean([row["fg IoU ours: segment class 1"] for row in rows]))
    per_mp = [row["seconds"] / row["megapixels"] for row in rows]
    peer_per_mp = [row["peer_seconds"] / row["megapixels"] for row in rows]
    out["s_per_megapixel"] = float(np.median(per_mp))
    out["peer_s_per_megapixel"] = float(np.median(peer_per_mp))
    out["n_images"] = len({row["image"] for row in rows})
    return out


def markdown(results: dict) -> str:
    """The results as a Markdown table: one row per set and seed, one column per method."""
    lines = []
    for set_name, by_seed in results["sets"].items():
        methods = [m for m, v in next(iter(by_seed.values())).items() if isinstance(v, dict)]
        lines += [f"### {set_name}", "", "instance F1 at IoU 0.5 / mean matched IoU / fg IoU, mean over images", ""]
        lines += ["| seed | images | " + " | ".join(methods) + " | s/MP objects (Otsu + watershed) |"]
        lines += ["|---" * (len(methods) + 3) + "|"]
        for seed, summary in by_seed.items():
            cells = [
                f"{summary[m]['f1']:.3f} / {summary[m]['matched_iou']:.3f} / {summary[m]['fg_iou']:.3f}"
                for m in methods
            ]
            timing = f"{summary['s_per_megapixel']:.3f} ({summary['peer_s_per_megapixel']:.3f})"
            lines += [f"| {seed} | {summary['n_images']} | " + " | ".join(cells) + f" | {timing} |"]
        lines += [""]
    return "\n".join(lines)


def dense_field(side: int = 1000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic dense field for timing: (image, class labels, true instances).

    30 x 30 discs of radius 12-16 px on a jittered grid (many touch), brightness 150-250 over a
    background of 40 +- 15, blurred over 1.5 px; the class (id 1, background id 2) is the discs
    grown by 3 px, as a class drawn a little too wide.
    """
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:side, :side]
    truth = np.zeros((side, side), np.int32)
    step = side / 30
    for k, (i, j) in enumerate(np.ndindex(30, 30), start=1):
        cy, cx = (i + 0.5) * step + rng.uniform(-3, 3), (j + 0.5) * step + rng.uniform(-3, 3)
        radius = 14 * rng.uniform(0.85, 1.15)
        truth[((yy - cy) ** 2 + (xx - cx) ** 2 < radius**2) & (truth == 0)] = k
    brightness = rng.uniform(150, 250, truth.max() + 1).astype(np.float32)
    image = ndimage.gaussian_filter(np.where(truth > 0, brightness[truth], 0), 1.5) + rng.normal(40, 15, truth.shape)
    labels = np.where(ndimage.binary_dilation(truth > 0, iterations=3), 1, 2).astype(np.uint8)
    return image.astype(np.float32), labels, truth


def speed(runs: int = 7) -> dict:
    """Seconds per megapixel of ``split_instances`` + ``measure_objects``, CPU and wall (medians of ``runs``).

    Defaults (``workers`` = one thread per core), the same with ``workers=1``, ``tighten=0`` and
    Otsu + watershed + ``measure_objects`` alternate in one process, on the seed-0 segmentations
    of every third 40x tissue image (timed together) and of nuclei2d, and on :func:`dense_field`.
    The wall time with the default threads is the figure for a 2D image on the machine's cores;
    the objects must not depend on the threads. The load average before and after is recorded.
    """
    import os

    from napari_diffseg.objects import measure_objects, split_instances

    cases = {"dense synthetic field, 1000 x 1000": [dense_field()]}
    if set_names("nuclei2d"):
        image, truth = load("nuclei2d")
        cases = {"nuclei2d, seed-0 segmentation": [(image, predictions("nuclei2d", 0)["ours"], truth)]} | cases
    if set_names("tissue40x"):
        tissue = [(*load(name), predictions(name, 0)["ours"]) for name in set_names("tissue40x")[::3]]
        cases = {f"DAPI tissue 40x, {len(tissue)} seed-0 segmentations": [(i, o, t) for i, t, o in tissue]} | cases
    variants = {
        "split_instances + measure_objects": lambda image, labels: split_instances(labels, classes=[1], image=image),
        "the same, workers=1": lambda image, labels: split_instances(labels, classes=[1], image=image, workers=1),
        "the same, tighten=0": lambda image, labels: split_instances(labels, classes=[1], image=image, tighten=0),
        "Otsu + watershed + measure_objects": lambda image, labels: otsu_watershed(image, **WATERSHED),
    }
    results = {"cpu_count": os.cpu_count(), "load_average_before": os.getloadavg()[0]}
    for name, items in cases.items():
        for image, labels, _truth in items:
            if not np.array_equal(
                variants["the same, workers=1"](image, labels), split_instances(labels, [1], image=image)
            ):
                raise AssertionError("the objects depend on the number of workers")
        cpu: dict[str, list[float]] = {key: [] for key in variants}
        wall: dict[str, list[float]] = {key: [] for key in variants}
        for _ in range(runs):
            for key, method in variants.items():
                start, start_wall = time.process_time(), time.perf_counter()
                for image, labels, _truth in items:
                    measure_objects(method(image, labels), image, labels=labels)
                cpu[key].append(time.process_time() - start)
                wall[key].append(time.perf_counter() - start_wall)
        megapixels = sum(labels.size for _image, labels, _truth in items) / 1e6
        results[name] = {
            "megapixels": megapixels,
            "s_per_megapixel": {key: float(np.median(v)) / megapixels for key, v in cpu.items()},
            "wall_s_per_megapixel": {key: float(np.median(v)) / megapixels for key, v in wall.items()},
            "f1": {
                key: float(np.mean([match(method(image, labels), truth)["f1"] for image, labels, truth in items]))
                for key, method in variants.items()
            },
        }
        print(name, json.dumps(results[name]), flush=True)
    results["load_average_after"] = os.getloadavg()[0]
    if set_names("tissue40x"):
        results |= stack_workers(runs)
    return results


def stack_workers(runs: int = 7) -> dict:
    """Wall seconds per megapixel of ``split_instances`` on a stack of 40x tissue slices, 1 against 2 workers.

    The stack: the seed-0 segmentations of every fifth 40x image (at most 8), cropped to a
    common size; the runs alternate in one process and the objects must be identical.
    """
    from napari_diffseg.objects import split_instances

    names = set_names("tissue40x")[::5][:8]
    images = [load(name)[0] for name in names]
    height, width = min(i.shape[0] for i in images), min(i.shape[1] for i in images)
    image = np.stack([i[:height, :width] for i in images])
    labels = np.stack([predictions(name, 0)["ours"][:height, :width] for name in names])
    seconds: dict[int, list[float]] = {1: [], 2: []}
    objects = {}
    for _ in range(runs):
        for workers in seconds:
            start = time.perf_counter()
            objects[workers] = split_instances(labels, classes=[1], image=image, workers=workers)
            seconds[workers].append(time.perf_counter() - start)
    if not np.array_equal(objects[1], objects[2]):
        raise AssertionError("the objects depend on the number of workers")
    megapixels = labels.size / 1e6
    name = f"stack of {len(names)} DAPI tissue 40x slices, wall time"
    result = {
        name: {
            "megapixels": megapixels,
            "wall_s_per_megapixel": {f"workers={w}": float(np.median(v)) / megapixels for w, v in seconds.items()},
        }
    }
    print(name, json.dumps(result[name]), flush=True)
    return result


def corrected(name: str, seed: int, rounds: int) -> dict:
    """Ours on one image and seed after 0..``rounds`` robot corrections: instance F1 and fg IoU per round."""
    from benchmarks.interactive import Ours, correct, fg_bg_truth
    from benchmarks.metric import foreground_iou
    from napari_diffseg.objects import split_instances

    image, truth = load(name)
    scribbles, target = strokes(truth, seed), fg_bg_truth(truth > 0)
    model = Ours(seed)
    f1, fg = [], []
    for _ in range(rounds + 1):
        labels = model(image, scribbles)
        instances = split_instances(labels, classes=[1], image=image)
        f1.append(match(instances, truth)["f1"])
        fg.append(foreground_iou(instances > 0, truth, None))
        scribbles = correct(labels, target, scribbles)
    return {"image": name, "seed": seed, "f1": f1, "fg_iou": fg}


def _corrected(job: tuple[str, int, int]) -> dict:
    import torch

    torch.set_num_threads(1)
    return corrected(*job)


def corrections(sets: list[str], seeds: list[int], rounds: int, jobs: int) -> dict:
    """Mean instance F1 and fg IoU per set, seed and round of :func:`corrected`, in ``jobs`` processes."""
    from concurrent.futures import ProcessPoolExecutor

    names = {set_name: set_names(set_name) for set_name in sets}
    work = [(name, seed, rounds) for set_name in sets for seed in seeds for name in names[set_name]]
    with ProcessPoolExecutor(jobs) as pool:
        rows = list(pool.map(_corrected, work))
    by_name = {name: set_name for set_name, members in names.items() for name in members}
    out: dict = {"rounds": rounds, "sets": {}}
    for set_name in sets:
        for seed in seeds:
            mine = [r for r in rows if by_name[r["image"]] == set_name and r["seed"] == seed]
            if mine:
                out["sets"].setdefault(set_name, {})[str(seed)] = {
                    "n_images": len(mine),
                    "f1": np.mean([r["f1"] for r in mine], axis=0).tolist(),
                    "fg_iou": np.mean([r["fg_iou"] for r in mine], axis=0).tolist(),
                }
    out["images"] = rows
    return out


def corrections_markdown(results: dict, peers: dict) -> str:
    """One row per set and seed: F1 (fg IoU) after each round, and the best classical peer."""
    rounds = results["rounds"]
    lines = ["instance F1 at IoU 0.5 (fg IoU of the objects) after k corrective strokes, mean over images", ""]
    lines += ["| set | seed | images | " + " | ".join(f"k = {k}" for k in range(rounds + 1)) + " | Otsu + watershed |"]
    lines += ["|---" * (rounds + 5) + "|"]
    for set_name, by_seed in results["sets"].items():
        for seed, summary in by_seed.items():
            cells = [f"{f:.3f} ({g:.3f})" for f, g in zip(summary["f1"], summary["fg_iou"], strict=True)]
            peer = peers.get(set_name)
            lines += [
                f"| {set_name} | {seed} | {summary['n_images']} | "
                + " | ".join(cells)
                + f" | {'-' if peer is None else f'{peer:.3f}'} |"
            ]
    return "\n".join(lines) + "\n"


def ellipse_field(
    aspect: float, size: float, *, touching: bool, side: int = 1024, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """A synthetic field of textured elliptic nuclei: (image, true instances).

    Ellipses of ``aspect`` (long over short axis) with the area of a disc of radius ``size`` x
    0.8-1.25, at random angles, cover 15 % of the field apart from each other or, ``touching``,
    30 % with up to a fifth of each hidden under the earlier ones. Brightness rises from 0.4 at
    the rim to 1 in the middle (a nucleus is thicker there), times a chromatin texture (Gaussian
    noise smoothed over ``size / 6``, its standard deviation a third of the mean), over a
    background of 0.2 with noise of 0.05, blurred over 1 px.
    """
    import edt
    from scipy import ndimage
    from skimage.draw import ellipse

    rng = np.random.default_rng(seed)
    truth = np.zeros((side, side), np.int32)
    apart = np.zeros((side, side), bool)
    count = 0
    for _ in range(2000 if touching else 400):
        long = size * rng.uniform(0.8, 1.25) * np.sqrt(aspect)
        rows, cols = ellipse(
            *rng.uniform(long + 2, side - long - 2, 2), long, long / aspect, truth.shape, rng.uniform(0, np.pi)
        )
        if touching:
            free = truth[rows, cols] == 0
            if free.mean() < 0.8:
                continue
            rows, cols = rows[free], cols[free]
        elif apart[rows, cols].any():
            continue
        count += 1
        truth[rows, cols] = count
        if not touching:
            apart = ndimage.binary_dilation(truth > 0, iterations=2)
        if count >= int((0.3 if touching else 0.15) * side**2 / (np.pi * long * long / aspect)):
            break
    depth = edt.edt(truth, black_border=False)
    deepest = np.zeros(count + 1)
    np.maximum.at(deepest, truth.ravel(), depth.ravel())
    profile = np.where(truth > 0, 0.4 + 0.6 * np.sqrt(np.clip(depth / np.maximum(deepest[truth], 1), 0, 1)), 0)
    texture = ndimage.gaussian_filter(rng.normal(size=truth.shape), size / 6)
    image = 0.2 + profile * (0.6 + 0.2 * texture / texture.std()) + rng.normal(0, 0.05, truth.shape)
    return ndimage.gaussian_filter(image, 1.0).astype(np.float32), truth


def shapes() -> dict:
    """Instance F1 of ``split_instances`` on :func:`ellipse_field` fields, the class being the true foreground.

    Ours with the image and the measured radius, with ``radius`` = half the median length of the
    true nuclei (what a user measures on one nucleus), with ``tighten=0``, without the image;
    against connected components and Otsu + watershed (40x-tuned).
    """
    from skimage.measure import regionprops_table

    from napari_diffseg.objects import split_instances

    results = {}
    for touching in (False, True):
        for aspect in (1.0, 1.5, 2.0, 3.0):
            for size in (15, 30):
                image, truth = ellipse_field(aspect, size, touching=touching)
                labels = np.where(truth > 0, 1, 2).astype(np.uint8)
                half_length = float(
                    np.median(regionprops_table(truth, properties=["axis_major_length"])["axis_major_length"]) / 2
                )
                methods = {
                    "ours": split_instances(labels, [1], image=image),
                    "ours, radius = half length": split_instances(labels, [1], image=image, radius=half_length),
                    "ours, tighten=0": split_instances(labels, [1], image=image, tighten=0),
                    "ours without the image": split_instances(labels, [1]),
                    "components": components(labels == 1),
                    "Otsu + watershed": otsu_watershed(image, **WATERSHED),
                }
                key = f"{'touching' if touching else 'apart'}, aspect {aspect:g}, size {size}"
                results[key] = {"nuclei": int(truth.max())} | {m: match(o, truth)["f1"] for m, o in methods.items()}
                print(key, json.dumps(results[key]), flush=True)
    return results


def shapes_markdown(results: dict) -> str:
    """One row per field of :func:`shapes`, one column per method."""
    methods = [m for m in next(iter(results.values())) if m != "nuclei"]
    lines = ["| field | nuclei | " + " | ".join(methods) + " |", "|---|---|" + "---|" * len(methods)]
    for key, row in results.items():
        lines += [f"| {key} | {row['nuclei']} | " + " | ".join(f"{row[m]:.3f}" for m in methods) + " |"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--seeds", default="0,1,2,3", help="comma-separated stroke and training seeds")
    parser.add_argument("--limit", type=int, default=None, help="at most this many images per set (every k-th)")
    parser.add_argument("--cached-only", action="store_true", help="score only images whose predictions are in out/")
    parser.add_argument("--tune-peers", action="store_true", help="grid-search the classical peers on the 40x images")
    parser.add_argument("--speed", action="store_true", help="time the object step only (results/objects_speed.json)")
    parser.add_argument("--shapes", action="store_true", help="synthetic elongated nuclei (results/objects_shapes.*)")
    parser.add_argument("--corrections", type=int, default=0, help="score ours after 0..N robot corrections")
    parser.add_argument("--jobs", type=int, default=1, help="processes for --corrections")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent / "results" / "objects.json"))
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.speed:
        path = Path(__file__).resolve().parent / "results" / "objects_speed.json"
        path.write_text(json.dumps(speed(), indent=1))
        return
    if args.shapes:
        path = Path(__file__).resolve().parent / "results" / "objects_shapes.json"
        results = shapes()
        path.write_text(json.dumps(results, indent=1))
        path.with_suffix(".md").write_text(shapes_markdown(results))
        print(shapes_markdown(results))
        return
    if not set_names("nuclei2d") and not set_names("tissue40x"):
        raise SystemExit("the development nuclei data are absent: nothing to score")
    if args.corrections:
        seeds = [int(s) for s in args.seeds.split(",")]
        results = corrections(args.sets.split(","), seeds, args.corrections, args.jobs)
        scored = json.loads(Path(args.out).read_text()).get("sets", {}) if Path(args.out).exists() else {}
        peers = {name: next(iter(by_seed.values()))["Otsu + watershed"]["f1"] for name, by_seed in scored.items()}
        path = Path(__file__).resolve().parent / "results" / "objects_corrections.json"
        table = corrections_markdown(results, peers)
        path.write_text(json.dumps(results, indent=1))
        path.with_suffix(".md").write_text(table)
        print(table)
        return
    otsu, watershed = OTSU, WATERSHED
    tuning = None
    if args.tune_peers:
        tuning = tune_peers(set_names("tissue40x"))
        otsu, watershed = tuning["otsu"]["best"], tuning["watershed"]["best"]
    out_path = Path(args.out)
    results = json.loads(out_path.read_text()) if out_path.exists() else {}
    results |= {"otsu": otsu, "watershed": watershed, "protocol": "5 strokes in nuclei (id 1), 5 in background (id 2)"}
    if tuning:
        results["peer_tuning"] = tuning
    results.setdefault("sets", {})
    for set_name in args.sets.split(","):
        names = set_names(set_name)
        if args.limit and len(names) > args.limit:
            names = names[:: int(np.ceil(len(names) / args.limit))]
        for seed in (int(s) for s in args.seeds.split(",")):
            todo = [n for n in names if not args.cached_only or (OUT / f"{Path(n).stem}_s{seed}.npz").exists()]
            rows = [evaluate(name, seed, otsu, watershed) for name in todo]
            results["sets"].setdefault(set_name, {})[str(seed)] = summarise(rows)
            print(set_name, seed, json.dumps(results["sets"][set_name][str(seed)]), flush=True)
            out_path.parent.mkdir(parents=True, exist_ok=True)
            out_path.write_text(json.dumps(results, indent=1))
            out_path.with_suffix(".md").write_text(markdown(results))


if __name__ == "__main__":
    main()
