"""Scribble readouts compared before and after one correction: ``python -m benchmarks.readout_levers``.

For the foreground/background photos and the nuclei image, over seeds (``--seeds 0,1,2,3``),
train the fast preset with the generated strokes once, then for every readout variant:
label the image (``before``), add the corrective stroke of ``refine.py`` inside the largest
error region, and label again after refitting the readout only (``refit``) and after the
widget's Refine (training on, then refitting; ``after``). Variants (``--variants``):
``argmax`` (the painted channels' argmax), ``lr<l2>`` (logistic regression, L-BFGS, L2 penalty
``l2`` on the weights; ``lr`` alone: the penalty of the earlier opt-in readout, 0.5 / pixels) and
``lda<s>`` (linear discriminant, covariance shrunk by ``s`` towards the identity; ``lda1``
is the nearest class mean). Prints mean foreground IoUs per variant; the photos' mean
"before" is the number the random forest (0.591) is compared with.
"""

from __future__ import annotations

import argparse
import copy
import sys

import numpy as np
import torch

from benchmarks import datasets, metric
from benchmarks.refine import corrected


def read_out(scribbles, features: torch.Tensor, variant: str) -> np.ndarray:
    """Labels of every pixel from ``features`` with the painted classes of ``scribbles`` (mapped to channels)."""
    targets = torch.from_numpy(scribbles.targets.reshape(features.shape[1:]))
    n_classes = scribbles.ids.size
    painted = targets >= 0
    x, y = features[:, painted].T.double(), targets[painted]
    if variant == "argmax":
        return scribbles.ids[features[:n_classes].argmax(0).numpy()]
    means = torch.stack([x[y == k].mean(0) for k in range(n_classes)])
    if variant.startswith("lda"):
        shrink = float(variant[3:])
        within = (x - means[y]).T @ (x - means[y]) / x.shape[0]
        q = within.shape[0]
        shrunk = (1 - shrink) * within + shrink * (torch.trace(within) / q + 1e-6) * torch.eye(q, dtype=x.dtype)
        weight = torch.linalg.solve(shrunk, means.T).T
        bias = -0.5 * (weight * means).sum(1)
    else:  # logistic regression
        l2 = float(variant[2:]) if len(variant) > 2 else 0.5 / x.shape[0]
        weight = torch.zeros((n_classes, x.shape[1]), dtype=x.dtype, requires_grad=True)
        bias = torch.zeros(n_classes, dtype=x.dtype, requires_grad=True)
        optimizer = torch.optim.LBFGS([weight, bias], max_iter=100, line_search_fn="strong_wolfe")

        def objective() -> torch.Tensor:
            optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(x @ weight.T + bias, y) + l2 * (weight**2).sum()
            loss.backward()
            return loss

        optimizer.step(objective)
        weight, bias = weight.detach(), bias.detach()
    scores = torch.einsum("cq,qhw->chw", weight, features.double()) + bias[:, None, None]
    return scribbles.ids[scores.argmax(0).numpy()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="0,1,2,3")
    parser.add_argument("--variants", default="argmax,lr,lda0.5,lda0.9,lda1")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    from napari_diffseg import Segmenter
    from napari_diffseg.preprocess import prepare_scribbles, scribbles_in_order

    torch.set_num_threads(args.threads)
    variants = args.variants.split(",")
    items = datasets.load_voc_foreground() + datasets.load_nuclei()
    if not items:
        sys.exit("no benchmark data (see docs/benchmarks.md, NAPARI_DIFFSEG_DATA): nothing to benchmark")
    scores = {v: {"before": [], "refit": [], "after": [], "photos before": []} for v in variants}
    for seed in (int(s) for s in args.seeds.split(",")):
        for item in items:
            void = None if item.name == "nuclei2d" else metric.VOID
            model = Segmenter("fast", seed=seed, readout="argmax").fit(item.image, item.scribbles)
            features = model.responses()
            for variant in variants:
                before = read_out(model.scribbles, features, variant)
                strokes = corrected(before, item.truth, item.scribbles)
                refit = scribbles_in_order(prepare_scribbles(strokes, strokes.shape), model.scribble_ids)
                refined = copy.deepcopy(model)
                list(refined.refine(strokes))
                labels = {
                    "before": before,
                    "refit": read_out(refit, features, variant),
                    "after": read_out(refined.scribbles, refined.responses(), variant),
                }
                for key, value in labels.items():
                    scores[variant][key].append(metric.foreground_iou(value == 1, item.truth, void))
                if item.name != "nuclei2d":
                    scores[variant]["photos before"].append(scores[variant]["before"][-1])
            print(seed, item.name, {v: round(scores[v]["before"][-1], 3) for v in variants}, flush=True)
    for variant in variants:
        print(variant, {key: round(float(np.mean(values)), 4) for key, values in scores[variant].items()})


if __name__ == "__main__":
    main()
