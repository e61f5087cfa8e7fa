"""The benchmark harness end to end: ``python -m benchmarks.run --quick`` (untimed smoke run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import datasets

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"


@pytest.mark.slow
@pytest.mark.skipif(not datasets.data_available(), reason=datasets.MISSING_DATA)
def test_quick_benchmarks_produce_every_table():
    subprocess.run([sys.executable, "-m", "benchmarks.run", "--quick"], check=True, capture_output=True, cwd=ROOT)
    results = json.loads((BENCHMARKS / "results" / "benchmarks_quick.json").read_text())
    sets = {row["set"].split(" (")[0] for row in results["quality"]}
    assert sets == {"BSDS held-out", "VOC scribbles", "VOC foreground/background", "nuclei2d"}
    for row in results["quality"]:
        scores = [v for k, v in row.items() if k in ("all", "fine", "coarse", "mIoU", "foreground IoU")]
        assert scores and all(0.0 <= v <= 1.0 for v in scores)
    speed = results["speed"]
    assert speed["memory_refusal"]["refused"] and "GiB" in speed["memory_refusal"]["message"]
    assert speed["fast_vs_paper"]["ratio"] > 1
    assert all(row["peak_rss_gib"] > 0 for row in speed["scaling_fast"])
