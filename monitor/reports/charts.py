"""Charts people would rather look at than read, drawn with matplotlib (no display needed).

Figures are made with ``matplotlib.figure.Figure``, not pyplot: pyplot keeps global state that is not safe across
threads, and the daemon draws its digest chart on a store reader thread (``Store.read``), off the writer thread.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # for wordcloud, which imports pyplot
import matplotlib.dates as mdates
import numpy as np
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from wordcloud import WordCloud

GREY = "#c8c8c8"


def trend_chart(path: str | Path, series: Mapping[str, Sequence[int]], end: float, bin_seconds: float,
                highlight: tuple[float, float] | None = None, title: str = "Topics over time",
                ylabel: str = "items per bin") -> Path:
    """Items per time bin for each labelled series, as a PNG at ``path``; ``highlight`` shades a (start, end) span
    in epoch seconds, such as the period a digest reports on."""
    fig = Figure(figsize=(10, 4.5), dpi=100)
    ax = fig.subplots()
    if highlight is not None:
        ax.axvspan(datetime.fromtimestamp(highlight[0], UTC), datetime.fromtimestamp(highlight[1], UTC),
                   color="#f2d98c", alpha=0.35, linewidth=0, label="the period reported on")
    for label, counts in series.items():
        starts = [datetime.fromtimestamp(end - (len(counts) - i) * bin_seconds, UTC) for i in range(len(counts))]
        ax.plot(starts, counts, marker="o", markersize=3, linewidth=1.5, label=label[:60])
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b" if bin_seconds >= 86400 else "%d %b %H:%M"))
    ax.grid(alpha=0.3)
    if series or highlight is not None:
        ax.legend(loc="upper left", fontsize=8, frameon=False)
    fig.autofmt_xdate()
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out


def palette(n: int) -> list[str]:
    """``n`` colours as hex strings: matplotlib's tab20, strong shades before pale ones and without its greys (kept
    for what is not coloured), then tab20b, repeated past 38."""
    tab20, tab20b = matplotlib.colormaps["tab20"], matplotlib.colormaps["tab20b"]
    colours = [to_hex(tab20(i)) for i in (*range(0, 20, 2), *range(1, 20, 2)) if i not in (14, 15)]
    colours += [to_hex(tab20b(i)) for i in range(20)]
    return [colours[i % len(colours)] for i in range(n)]


def word_cloud(path: str | Path, weights: Sequence[tuple[str, float]], seed: int = 0) -> Path:
    """A word cloud of ``(word, weight)`` pairs (each word sized by its weight), as a PNG at ``path``."""
    cloud = WordCloud(width=1000, height=600, background_color="white", colormap="viridis", random_state=seed,
                      prefer_horizontal=0.9, relative_scaling=0.5, max_words=len(weights))
    cloud.generate_from_frequencies(dict(weights))
    out = Path(path)
    cloud.to_image().save(out, format="PNG")
    return out


def map_chart(path: str | Path, coords: np.ndarray, colors: Sequence[str], legend: Mapping[str, str],
              names: Sequence[tuple[str, float, float]], title: str) -> Path:
    """A scatter of 2-D item ``coords`` in their ``colors``, with a ``legend`` (name -> colour) and ``names``
    (text, x, y) written over the map, as a PNG at ``path``."""
    fig = Figure(figsize=(11, 8), dpi=100)
    ax = fig.subplots()
    ax.scatter(coords[:, 0], coords[:, 1], c=list(colors), s=12, alpha=0.8, linewidths=0)
    for text, x, y in names:
        ax.annotate(text[:40], (x, y), ha="center", va="center", fontsize=8, weight="bold",
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.7})
    if legend:
        ax.legend(handles=[Patch(color=c, label=n[:40]) for n, c in legend.items()], loc="center left",
                  bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    return out
