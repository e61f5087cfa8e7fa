"""Levers of the spatial scribble readout on the robot-user protocol: ``python -m benchmarks.spatial_levers``.

The network is trained once per image (fast preset, seed 0, round-0 strokes); its responses
are kept, and every variant of :func:`napari_diffseg.spatial.spatial_readout` runs the
correction rounds of ``benchmarks.interactive`` on them as ``Segmenter.labels`` does with
``refine_iter=0`` (local corrections when strokes were only added, painted pixels kept). The
linear readout on the same responses (``linear``) is the reference. Prints mean IoU per round
per data set and variant and writes ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.interactive import MULTI_SETS, Task, correct, load_tasks, score

VARIANTS: dict[str, dict] = {
    "stage1": {"adaptive": False, "refits": 2},
    "no_geodesic": {"geodesic": 0.0},
    "smooth_1": {"smoothness": 1.0, "adaptive": False},
    "smooth_0.5": {"smoothness": 0.5, "adaptive": False},
    "no_geo_smooth_1": {"geodesic": 0.0, "smoothness": 1.0},
    "no_refit": {"refits": 0, "adaptive": False},
    "adaptive": {"objects_share": 0.0},
    "auto": {},
    "auto_no_refit": {"refits": 0},
    "auto_mixture": {"refits": 0, "objects_components": 8},
    "lda_unary": {"components": 1, "shrinkage": 0.9, "refits": 0},
    "lda_unary_smooth_1": {"components": 1, "shrinkage": 0.9, "refits": 0, "smoothness": 1.0},
    "lda_refit": {"components": 1, "shrinkage": 0.9},
}


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
    from napari_diffseg.spatial import local_correction, spatial_readout

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
            classes, _, _ = spatial_readout(responses, image, targets, ids.size, **VARIANTS[variant])
            labels = ids[classes]
            strokes = np.where(targets >= 0, scribbles, 0)
            if shown is not None and not ((shown[1] > 0) & (strokes != shown[1])).any():
                labels = local_correction(shown[0], labels, np.where(shown[1] > 0, 0, strokes))
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
