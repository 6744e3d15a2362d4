"""Charts people would rather look at than read, drawn with matplotlib (no display needed)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt


def trend_chart(path: str | Path, series: Mapping[str, Sequence[int]], end: float, bin_seconds: float) -> Path:
    """Items per time bin for each labelled series, as a PNG at ``path``."""
    fig, ax = plt.subplots(figsize=(10, 4.5), dpi=100)
    for label, counts in series.items():
        starts = [datetime.fromtimestamp(end - (len(counts) - i) * bin_seconds, UTC) for i in range(len(counts))]
        ax.plot(starts, counts, marker="o", markersize=3, linewidth=1.5, label=label[:50])
    ax.set_ylabel("items per bin")
    ax.set_title("Topics over time")
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b %H:%M"))
    ax.grid(alpha=0.3)
    if series:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out
