"""Plot time and peak memory against image size from ``results/benchmarks_speed.json``.

``python -m benchmarks.plot`` writes ``docs/benchmark_scaling.png``.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    speed = json.loads((ROOT / "benchmarks" / "results" / "benchmarks_speed.json").read_text())["speed"]
    fig, (ax_time, ax_memory) = plt.subplots(1, 2, figsize=(9, 3.5))
    for preset, rows in (("fast", speed["scaling_fast"]), ("paper", speed["scaling_paper"])):
        pixels = [row["side"] ** 2 / 1e6 for row in rows]
        ax_time.loglog(pixels, [row["s_per_iter"] for row in rows], "o-", label=f"{preset}: s/iteration")
        if preset == "fast":
            ax_time.loglog(pixels, [row["whole_call_s"] for row in rows], "s--", label="fast: whole segment() call")
        ax_memory.loglog(pixels, [row["peak_rss_gib"] for row in rows], "o-", label=preset)
    ax_memory.axhline(2 / 1.074, color="grey", lw=0.8, ls=":", label="2 GB target")
    ax_time.set(xlabel="megapixels (256² … 2048²)", ylabel="seconds", title="time (2 CPU threads)")
    ax_memory.set(xlabel="megapixels", ylabel="peak RSS (GiB)", title="peak resident memory")
    for ax in (ax_time, ax_memory):
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / "benchmark_scaling.png", dpi=120)


if __name__ == "__main__":
    main()
