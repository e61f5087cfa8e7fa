"""Sweep fast-preset overrides on the first N BSDS tuning images: mIoU and median time.

``python -m benchmarks.sweep 6 '{}' '{"max_iter": 60}'`` prints one line per configuration
(each argument after N: overrides of the fast preset as JSON). Configurations run
interleaved image by image, so that load from other processes hits them alike.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

from benchmarks import datasets, metric


def main() -> None:
    import torch

    from napari_diffseg import segment

    torch.set_num_threads(2)
    images = datasets.load_bsds(datasets.bsds_split()[0][: int(sys.argv[1])])
    configs = [json.loads(arg) for arg in sys.argv[2:]]
    segment(images[0].image[:64, :64], max_iter=3)  # warm-up
    labels = [[] for _ in configs]
    seconds = [[] for _ in configs]
    for item in images:
        for index, config in enumerate(configs):
            start = time.perf_counter()
            labels[index].append(segment(item.image, seed=0, **config))
            seconds[index].append(time.perf_counter() - start)
    for config, predictions, times in zip(configs, labels, seconds, strict=True):
        scores = metric.bsds_miou(predictions, [item.truths for item in images])
        n_labels = np.median([np.unique(p).size for p in predictions])
        print(
            json.dumps(config),
            f"median {np.median(times):.2f} s, median labels {n_labels:.0f},",
            {k: round(v, 4) for k, v in scores.items()},
            flush=True,
        )


if __name__ == "__main__":
    main()
