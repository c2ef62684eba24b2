"""Print one line per measure, write bench/results/latest.json and a small PNG chart of the ratios."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from bench.runs import Measure

RESULTS = Path(__file__).resolve().parent / "results"


def line(measure: Measure) -> str:
    baseline = f"{measure.baseline:.4g} {measure.unit}" if measure.baseline is not None else "-"
    ratio = f"{measure.ratio:.2f}x" if measure.ratio is not None else "-"
    note = f"  ({measure.note})" if measure.note else ""
    return f"{measure.name:<34} {measure.value:>10.4g} {measure.unit:<6} baseline {baseline:<14} ratio {ratio}{note}"


def write(measures: list[Measure], options: dict, seconds: float) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "latest.json"
    path.write_text(json.dumps({"when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.node(),
                                "options": options, "seconds": round(seconds, 1),
                                "measures": [m.as_dict() for m in measures]}, indent=2))
    try:
        chart(measures, RESULTS / "latest.png")
    except ImportError:
        print("bench: matplotlib is not installed (pip install -e '.[bench]'); no chart written")
    return path


def chart(measures: list[Measure], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [m for m in measures if m.ratio is not None]
    fig, ax = plt.subplots(figsize=(7, 0.45 * len(shown) + 1.2))
    # Plot "times slower than the baseline" so that shorter is better for every bar.
    cost = [(1 / m.ratio if m.better == "higher" else m.ratio) for m in shown]
    ax.barh([m.name for m in shown], cost, color=["tab:green" if c <= 1.2 else "tab:orange" for c in cost])
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xlabel("cost relative to the in-run baseline (1.0 = baseline; lower is better)")
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
