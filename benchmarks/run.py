"""Reproduce every benchmark table: ``python -m benchmarks.run [--quick]``.

Writes ``benchmarks/results/benchmarks.json`` and ``benchmarks/results/benchmarks.md``
(``*_quick.*`` with ``--quick``, a seconds-long smoke version on two small inputs, which
the test suite runs). Data-dependent parts are skipped when the benchmark data folder is absent (see ``datasets``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks import datasets, quality, speed

RESULTS = Path(__file__).resolve().parent / "results"


def quality_tables(quick: bool) -> list[dict]:
    """Every quality row (``quick``: one image per set, shrunk)."""
    if not datasets.data_available():
        print(
            "no benchmark data (see docs/benchmarks.md, NAPARI_DIFFSEG_DATA): quality tables skipped", file=sys.stderr
        )
        return []
    tune, held_out = datasets.bsds_split()
    if quick:  # one image per set, shrunk 4x: exercises every path in seconds
        small = [
            replace(item, image=item.image[::4, ::4], truths=tuple(t[::4, ::4] for t in item.truths))
            for item in datasets.load_bsds(held_out[:1])
        ]
        voc, foreground, nuclei = (
            [_shrunk(item) for item in items[:1]]
            for items in (datasets.load_voc_scribbles(), datasets.load_voc_foreground(), datasets.load_nuclei())
        )
        return (
            quality.bsds_rows(small, "held-out", grid=False)
            + quality.voc_scribble_rows(voc)
            + quality.foreground_rows(foreground, "VOC foreground/background")
            + quality.foreground_rows(nuclei, "nuclei2d", instances=True)
        )
    rows = quality.bsds_rows(datasets.load_bsds(tune), "tuning")
    rows += quality.bsds_rows(datasets.load_bsds(held_out), "held-out")
    rows += quality.paper_subset_rows(datasets.load_bsds(datasets.PAPER_SUBSET))
    rows += quality.voc_scribble_rows(datasets.load_voc_scribbles())
    rows += quality.foreground_rows(datasets.load_voc_foreground(), "VOC foreground/background")
    rows += quality.foreground_rows(datasets.load_nuclei(), "nuclei2d", instances=True)
    return rows


def _shrunk(item: datasets.ScribbleImage, factor: int = 4) -> datasets.ScribbleImage:
    """Every ``factor``-th pixel; scribbles by block maximum so that thin strokes survive."""
    from skimage.measure import block_reduce

    scribbles = block_reduce(item.scribbles, (factor, factor), np.max)
    height, width = scribbles.shape
    return replace(
        item,
        image=item.image[::factor, ::factor][:height, :width],
        truth=item.truth[::factor, ::factor][:height, :width],
        scribbles=scribbles,
    )


def speed_tables(quick: bool) -> dict:
    """Side-by-side ratio, scaling, prediction rate, first call, memory refusal, levers."""
    from skimage import data

    from benchmarks import levers

    photo = data.astronaut()[::2, ::2][:160, :240] if quick else speed.resized_photo(512)[:321, :481]
    photo_path = RESULTS / "_photo.png"
    from skimage.io import imsave

    imsave(photo_path, photo, check_contrast=False)
    try:
        tables = {
            "fast_vs_paper": speed.fast_vs_paper(
                photo, rounds=1 if quick else 5, paper_iters_per_round=1 if quick else 2
            ),
            "scaling_fast": speed.scaling([64] if quick else [256, 512, 1024, 2048], "fast", 1 if quick else 3),
            "scaling_paper": speed.scaling([64] if quick else [256, 512], "paper", 1),
            "prediction": speed.prediction_rate(speed.resized_photo(64 if quick else 512), 2 if quick else 10),
            "first_call": speed.first_call(str(photo_path), 1 if quick else 3),
            "memory_refusal": speed.memory_refusal(),
            "levers": levers.side_by_side(
                photo, rounds=1 if quick else 5, per_round=1 if quick else 3, compile=not quick
            ),
            "allocator": levers.allocator(str(photo_path), rounds=1 if quick else 3, iterations=2 if quick else 10),
        }
    finally:
        photo_path.unlink()
    return tables


def markdown(quality_rows: list[dict], speed: dict) -> str:
    """Tables as Markdown."""
    lines = ["## Quality", ""]
    for row in quality_rows:
        values = ", ".join(
            f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items() if k not in ("set", "method")
        )
        lines.append(f"- **{row['set']}** — {row['method']}: {values}")
    lines += ["", "## Speed", ""]
    for name, table in speed.items():
        lines.append(f"### {name}")
        for row in table if isinstance(table, list) else [table]:
            lines.append(
                "- " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items())
            )
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds-long smoke version")
    parser.add_argument("--skip-speed", action="store_true", help="quality tables only (*_quality.*)")
    parser.add_argument("--skip-quality", action="store_true", help="speed tables only (*_speed.*)")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    RESULTS.mkdir(exist_ok=True)
    quality_rows = [] if args.skip_quality else quality_tables(args.quick)
    speed_results = {} if args.skip_speed else speed_tables(args.quick)
    suffix = (
        ("_quick" if args.quick else "")
        + ("_speed" if args.skip_quality else "")
        + ("_quality" if args.skip_speed else "")
    )
    meta = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": 2,
        "cpu_count": __import__("os").cpu_count(),
        "gpu": torch.cuda.is_available(),
    }
    (RESULTS / f"benchmarks{suffix}.json").write_text(
        json.dumps({"meta": meta, "quality": quality_rows, "speed": speed_results}, indent=1)
    )
    (RESULTS / f"benchmarks{suffix}.md").write_text(markdown(quality_rows, speed_results))
    print(markdown(quality_rows, speed_results))


if __name__ == "__main__":
    main()
