"""Levers of the spatial scribble readout on the robot-user protocol: ``python -m benchmarks.spatial_levers``.

The network is trained once per image (fast preset, seed 0, round-0 strokes); its responses
are kept, and every variant of :func:`napari_diffseg.spatial.spatial_readout` runs the
correction rounds of ``benchmarks.interactive`` on them as ``Segmenter.labels`` does with
``refine_iter=0`` (local corrections when strokes were only added, painted pixels kept). The
linear readout on the same responses (``linear``) is the reference. Prints mean IoU per round
per data set and variant and writes ``--out`` (JSON).

Besides the parameters of ``spatial_readout``, variants measure rejected alternatives kept here
for their figures (``docs/benchmarks.md``): :func:`scribble_cut` (the linear readout's posterior
as the unary of a contrast-sensitive Potts cut, with GrabCut-like per-class colour mixtures
re-fitted on the cut), the correction rules ``"local": False`` (the new solution everywhere),
``"region"`` (:func:`region_correction`), ``"nearer"`` (:func:`nearer_correction`) and
``"guard"`` (the new solution where :func:`consistent_update` holds, else the local correction).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.interactive import MULTI_SETS, Task, correct, load_tasks, score
from napari_diffseg.spatial import contrast_weights, fit_discriminant, graph_cut, local_correction, spatial_readout

HARD = 1e6  # a cost no solution pays

VARIANTS: dict[str, dict] = {
    "cut_lda": {"cut": True, "colour_weight": 0.0},
    "cut_lda_global": {"cut": True, "colour_weight": 0.0, "local": False},
    "cut_col": {"cut": True},
    "cut_lda_guard": {"cut": True, "colour_weight": 0.0, "local": "guard"},
    "auto_guard": {"local": "guard"},
    "cut_lda_region": {"cut": True, "colour_weight": 0.0, "local": "region"},
    "cut_col_region": {"cut": True, "local": "region"},
    "cut_col_s2_region": {"cut": True, "local": "region", "smoothness": 2.0},
    "cut_lda_s3_region": {"cut": True, "colour_weight": 0.0, "local": "region", "smoothness": 3.0},
    "cut_col_global": {"cut": True, "local": False},
    "cut_col_refit": {"cut": True, "refit_features": True},
    "cut_col_refit_global": {"cut": True, "refit_features": True, "local": False},
    "cut_col_w05": {"cut": True, "colour_weight": 0.5},
    "cut_col_s2": {"cut": True, "smoothness": 2.0},
    "cut_col_s05": {"cut": True, "smoothness": 0.5},
    "stage1": {"adaptive": False, "refits": 2},
    "no_geodesic": {"geodesic": 0.0},
    "smooth_1": {"smoothness": 1.0, "adaptive": False},
    "smooth_0.5": {"smoothness": 0.5, "adaptive": False},
    "no_geo_smooth_1": {"geodesic": 0.0, "smoothness": 1.0},
    "no_refit": {"refits": 0, "adaptive": False},
    "adaptive": {"objects_share": 0.0},
    "auto": {},
    "auto_nearer": {"local": "nearer"},
    "mix_s09": {"shrinkage": 0.9, "adaptive": False},
    "mix_s05": {"shrinkage": 0.5, "adaptive": False},
    "mix_s09_geo0": {"shrinkage": 0.9, "adaptive": False, "geodesic": 0.0},
    "auto_no_refit": {"refits": 0},
    "auto_mixture": {"refits": 0, "objects_components": 8},
    "lda_unary": {"components": 1, "shrinkage": 0.9, "refits": 0},
    "lda_unary_smooth_1": {"components": 1, "shrinkage": 0.9, "refits": 0, "smoothness": 1.0},
    "lda_refit": {"components": 1, "shrinkage": 0.9},
}


@dataclass(frozen=True)
class ColourModel:
    """Per-class Gaussian mixtures of pixel colours, fitted by hard assignment as GrabCut does.

    Attributes
    ----------
    means : numpy.ndarray
        (M, C) component means.
    precisions : numpy.ndarray
        (M, C, C) inverse covariances.
    log_norms : numpy.ndarray
        (M,) log mixture weight within its class minus half the log determinant of the covariance.
    owner : numpy.ndarray
        (M,) class index of each component.
    n_classes : int
        Number of classes.
    """

    means: np.ndarray
    precisions: np.ndarray
    log_norms: np.ndarray
    owner: np.ndarray
    n_classes: int

    def costs(self, colours: np.ndarray) -> np.ndarray:
        """(K, H, W) negative log colour posteriors (equal class priors) of (C, H, W) ``colours``."""
        x = np.asarray(colours, np.float32).reshape(colours.shape[0], -1)
        logs = np.empty((self.owner.size, x.shape[1]), np.float32)
        for m in range(self.owner.size):
            d = x - self.means[m][:, None].astype(np.float32)
            logs[m] = self.log_norms[m] - 0.5 * np.einsum("in,ij,jn->n", d, self.precisions[m].astype(np.float32), d)
        top = logs.max(0, keepdims=True)
        likelihood = np.zeros((self.n_classes, x.shape[1]), np.float32)
        np.add.at(likelihood, self.owner, np.exp(logs - top))
        with np.errstate(divide="ignore"):
            costs = np.log(likelihood.sum(0, keepdims=True)) - np.log(likelihood)
        return np.minimum(costs, HARD).reshape(self.n_classes, *colours.shape[1:])


def fit_colour_model(
    colours: np.ndarray, classes: np.ndarray, n_classes: int, *, components: int = 5, min_pixels: int = 20
) -> ColourModel:
    """Fit a :class:`ColourModel`: each class split by k-means into up to ``components`` Gaussians.

    Parameters
    ----------
    colours : numpy.ndarray
        (C, N) colours of the training pixels.
    classes : numpy.ndarray
        (N,) class index of each.
    n_classes : int
        Number of classes.
    components : int
        Most components per class; a class gets at most one per ``min_pixels`` pixels.
    min_pixels : int
        Pixels per component at least.
    """
    from scipy.cluster.vq import kmeans2

    x = np.asarray(colours, np.float64)
    scale = float(x.var(1).mean()) + 1e-6
    means, precisions, log_norms, owner = [], [], [], []
    for k in range(n_classes):
        members = x[:, classes == k]
        if members.shape[1] == 0:
            continue
        n_parts = max(1, min(components, members.shape[1] // min_pixels))
        parts = np.zeros(members.shape[1], np.int64)
        if n_parts > 1:
            _, parts = kmeans2(members.T, n_parts, minit="++", seed=0, iter=10)
        for part in np.unique(parts):
            values = members[:, parts == part]
            covariance = np.cov(values) if values.shape[1] > 1 else np.zeros((x.shape[0], x.shape[0]))
            covariance = np.atleast_2d(covariance) + 1e-2 * scale * np.eye(x.shape[0])
            means.append(values.mean(1))
            precisions.append(np.linalg.inv(covariance))
            log_norms.append(np.log(values.shape[1] / members.shape[1]) - 0.5 * np.linalg.slogdet(covariance)[1])
            owner.append(k)
    return ColourModel(
        np.asarray(means), np.asarray(precisions), np.asarray(log_norms), np.asarray(owner, np.int64), n_classes
    )


def discriminant_costs(features: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(K, H, W) negative log posteriors of the linear discriminant ``weight``, ``bias`` on (Q, H, W) features."""
    scores = np.einsum("kq,qhw->khw", weight.astype(np.float32), np.asarray(features, np.float32))
    scores += bias.astype(np.float32)[:, None, None]
    top = scores.max(0, keepdims=True)
    return np.minimum(np.log(np.exp(scores - top).sum(0, keepdims=True)) - (scores - top), HARD)


def scribble_cut(
    features: np.ndarray,
    image: np.ndarray,
    targets: np.ndarray,
    n_classes: int,
    *,
    smoothness: float = 1.0,
    shrinkage: float = 0.9,
    colour_weight: float = 1.0,
    colour_components: int = 5,
    rounds: int = 3,
    refit_features: bool = False,
    stroke_weight: float = 1.0,
    fit_pixels: int = 20000,
    temperature: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A rejected variant: the linear readout's posterior (``temperature`` divides it) as the unary of a
    contrast-sensitive Potts cut (``smoothness``), then ``rounds`` times, as GrabCut does, per-class colour
    mixtures (:func:`fit_colour_model`, weight ``colour_weight``) and with ``refit_features`` the
    discriminant too re-fitted on the cut labels and the cut solved again."""
    features = np.asarray(features, dtype=np.float32)
    targets = np.asarray(targets)
    weights = contrast_weights(image)
    painted = targets >= 0
    flat = features.reshape(features.shape[0], -1)
    weight, bias = fit_discriminant(flat[:, painted.ravel()], targets[painted], n_classes, shrinkage=shrinkage)
    evidence = discriminant_costs(features, weight, bias) / temperature
    labels = graph_cut(evidence, weights, targets, smoothness)
    step = max(1, int(np.sqrt(targets.size / fit_pixels)))
    grid = np.zeros(targets.shape, bool)
    grid[step // 2 :: step, step // 2 :: step] = True
    chosen = (grid | painted).ravel()
    sample_weight = np.where(painted.ravel()[chosen], 1.0 + stroke_weight, 1.0)
    colours = np.nan_to_num(np.asarray(image, np.float32))
    flat_colours = colours.reshape(colours.shape[0], -1)
    for _ in range(rounds if colour_weight > 0 or refit_features else 0):
        costs = evidence
        if refit_features:
            weight, bias = fit_discriminant(
                flat[:, chosen], labels.ravel()[chosen], n_classes, sample_weight=sample_weight, shrinkage=shrinkage
            )
            costs = discriminant_costs(features, weight, bias) / temperature
        if colour_weight > 0:
            model = fit_colour_model(
                flat_colours[:, chosen], labels.ravel()[chosen], n_classes, components=colour_components
            )
            costs = costs + colour_weight * model.costs(colours)
        labels = graph_cut(costs, weights, targets, smoothness)
    weight, bias = fit_discriminant(flat[:, chosen], labels.ravel()[chosen], n_classes, shrinkage=shrinkage)
    return labels, weight, bias


def consistent_update(
    features: np.ndarray, before: np.ndarray, after: np.ndarray, n_classes: int, *, shrinkage: float = 0.9
) -> bool:
    """Whether new strokes agree with the old ones: a discriminant fitted on ``after`` classifies the
    pixels painted in ``before`` at least as well as one fitted on ``before``.

    Parameters
    ----------
    features : numpy.ndarray
        (Q, H, W) per-pixel features.
    before, after : numpy.ndarray
        (H, W) class index of painted pixels (-1 elsewhere) before and after the new strokes.
    n_classes : int
        Number of classes.
    shrinkage : float
        Covariance shrinkage (see :func:`fit_discriminant`).
    """
    flat = np.asarray(features, np.float32).reshape(features.shape[0], -1)
    old = (before >= 0).ravel()
    accuracy = []
    for targets in (before, after):
        painted = (targets >= 0).ravel()
        weight, bias = fit_discriminant(flat[:, painted], targets.ravel()[painted], n_classes, shrinkage=shrinkage)
        predicted = (weight @ flat[:, old] + bias[:, None]).argmax(0)
        accuracy.append(float((predicted == before.ravel()[old]).mean()))
    return accuracy[1] >= accuracy[0]


def region_correction(previous: np.ndarray, proposal: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """A rejected correction rule: a new stroke of class k may turn any pixel of the regions of
    ``previous`` it lies in to k (:func:`~napari_diffseg.spatial.local_correction` without the
    connectivity to the stroke)."""
    from scipy import ndimage

    out = previous.copy()
    for value in np.unique(strokes[strokes > 0]):
        stroke = strokes == value
        for old in np.unique(previous[stroke]):
            components, _ = ndimage.label(previous == old, structure=np.ones((3, 3), bool))
            touched = np.unique(components[stroke])
            out[np.isin(components, touched[touched > 0]) & (proposal == value)] = value
        out[stroke] = value
    return out


def nearer_correction(previous: np.ndarray, proposal: np.ndarray, strokes: np.ndarray, old: np.ndarray) -> np.ndarray:
    """:func:`~napari_diffseg.spatial.local_correction` that takes from class c only the pixels nearer
    (Euclidean) to the new stroke than to every earlier stroke of c (``old``: earlier strokes' ids)."""
    from scipy import ndimage

    allowed = np.zeros(previous.shape, bool)
    for value in np.unique(strokes[strokes > 0]):
        near_new = ndimage.distance_transform_edt(strokes != value)
        for other in np.unique(previous[strokes == value]):
            if (old == other).any():
                ok = near_new < ndimage.distance_transform_edt(old != other)
            else:
                ok = np.ones(previous.shape, bool)
            allowed |= (previous == other) & ok & (proposal == value)
    return local_correction(previous, np.where(allowed | (proposal == previous), proposal, previous), strokes)


def responses_of(task: Task, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(responses, network input of the image, scribble ids) of the fast preset trained on the task."""
    from napari_diffseg import Segmenter

    model = Segmenter("fast", seed=seed, threads=1, readout="linear").fit(task.image, task.scribbles)
    return model.responses().numpy(), model.image[0].cpu().numpy(), model.scribble_ids


def linear_labels(responses: np.ndarray, targets: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Today's shrinkage-LDA readout of the painted classes on the same responses."""
    import torch

    from napari_diffseg.readout import fit_lda

    tiles = [(0, 0, torch.from_numpy(responses)[None])]
    weight, bias = fit_lda([(tiles, torch.from_numpy(targets))], int(ids.size), responses.shape[0])
    scores = np.einsum("cq,qhw->chw", weight.float().numpy(), responses) + bias.float().numpy()[:, None, None]
    return np.where(targets >= 0, ids[np.maximum(targets, 0)], ids[scores.argmax(0)])


def run_rounds(task: Task, cached: tuple, variant: str | None, rounds: int) -> list[float]:
    """IoU per round of one readout on cached responses."""
    responses, image, _ = cached
    scribbles = task.scribbles.copy()
    shown = None
    ious = []
    for _ in range(rounds + 1):
        ids = np.unique(scribbles[scribbles > 0])
        targets = np.where(scribbles > 0, np.searchsorted(ids, scribbles), -1)
        if variant is None:
            labels = linear_labels(responses, targets, ids)
        else:
            options = dict(VARIANTS[variant])
            local = options.pop("local", True)
            readout = scribble_cut if options.pop("cut", False) else spatial_readout
            classes, _, _ = readout(responses, image, targets, ids.size, **options)
            labels = ids[classes]
            strokes = np.where(targets >= 0, scribbles, 0)
            added = shown is not None and not ((shown[1] > 0) & (strokes != shown[1])).any()
            if added and local == "guard":
                before = np.where(shown[1] > 0, np.searchsorted(ids, shown[1]), -1)
                if consistent_update(responses, before, targets, ids.size):
                    added = False
            if local and added:
                new = np.where(shown[1] > 0, 0, strokes)
                if local == "nearer":
                    labels = nearer_correction(shown[0], labels, new, shown[1])
                else:
                    labels = (region_correction if local == "region" else local_correction)(shown[0], labels, new)
            shown = (labels, strokes)
        ious.append(score(labels, task.truth, task.dataset in MULTI_SETS))
        scribbles = correct(labels, task.truth, scribbles)
    return ious


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="nuclei,dapi,voc_fg,voc_multi")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--dapi-mags", default="40x")
    parser.add_argument("--bsds-split", default="tune", choices=("tune", "held", "val"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cache", default="benchmarks/out/levers_cache", help="folder for trained responses")
    parser.add_argument("--out", default="benchmarks/out/spatial_levers.json")
    args = parser.parse_args()
    cache, out = Path(args.cache), Path(args.out)
    cache.mkdir(parents=True, exist_ok=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    records = json.loads(out.read_text()) if out.exists() else []
    done = {(r["dataset"], r["image"], r["variant"]) for r in records}
    names = [None if v == "linear" else v for v in args.variants.split(",")]
    for dataset in args.sets.split(","):
        for task in load_tasks(dataset, args.limit, args.bsds_split, tuple(args.dapi_mags.split(","))):
            path = cache / f"{dataset}_{task.name}.npz"
            if path.exists():
                data = np.load(path)
                cached = (data["responses"], data["image"], data["ids"])
            else:
                cached = responses_of(task, 0)
                np.savez(path, responses=cached[0], image=cached[1], ids=cached[2])
            for variant in names:
                label = variant or "linear"
                if (dataset, task.name, label) in done:
                    continue
                start = time.perf_counter()
                ious = run_rounds(task, cached, variant, args.rounds)
                seconds = time.perf_counter() - start
                records.append({"dataset": dataset, "image": task.name, "variant": label, "iou": ious, "s": seconds})
                out.write_text(json.dumps(records))
                print(dataset, task.name, label, " ".join(f"{v:.3f}" for v in ious), f"{seconds:.1f}s", flush=True)
    for dataset in args.sets.split(","):
        for label in [v or "linear" for v in names]:
            rows = [r["iou"] for r in records if r["dataset"] == dataset and r["variant"] == label]
            if rows:
                mean = np.mean(rows, 0)
                worst = min(r[-1] - r[0] for r in rows)
                print(
                    f"{dataset:10s} {label:16s} n={len(rows)} " + " ".join(f"{v:.3f}" for v in mean),
                    f"worst {worst:+.3f}",
                )


if __name__ == "__main__":
    main()
