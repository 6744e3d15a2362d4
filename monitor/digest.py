"""Trend digests: over a period (an hour, a day, a week), which topics rose and faded against their own history,
which were busiest, and how the labels moved against the period before, with a chart.

``build`` reads the store; ``text`` and ``html`` render a digest (the HTML embeds its chart, so it is one file).
"""

from __future__ import annotations

import base64
import html as html_lib
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from monitor import charts, trends
from monitor.store import Store


@dataclass
class Digest:
    start: float
    end: float
    hours: float
    items: int
    items_before: int
    rising: list[trends.Trend]
    fading: list[trends.Trend]
    busiest: list[tuple[int, int]]
    keywords: dict[int, list[str]]
    labels: list[tuple[str, str, int, int]]
    chart: Path | None = None
    report: Path | None = None

    @property
    def title(self) -> str:
        return f"Lookout digest, {_when(self.start)} to {_when(self.end)} UTC"


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def build(store: Store, hours: float = 24.0, history: int = 7, limit: int = 5, chart_dir: Path | None = None,
          now: float | None = None) -> Digest:
    """The digest of the ``hours`` up to ``now``: each topic's count in this period scored against its last
    ``history`` periods; labels counted in this period and the one before; a chart of the busiest topics per
    hour over the last two periods when ``chart_dir`` is given."""
    end = now or time.time()
    period = hours * 3600
    start = end - period
    times = store.topic_times(end - (history + 1) * period)
    series = {tid: trends.binned(ts, end, period, history + 1) for tid, ts in times.items()}
    found = trends.trends(series, warmup=min(3, history))
    busiest = sorted(((tid, int(c[-1])) for tid, c in series.items() if c[-1]), key=lambda p: (-p[1], p[0]))[:limit]
    keywords = {t["id"]: t["keywords"] for t in store.top_topics(10_000)}
    now_labels, before = store.label_counts(start, end), store.label_counts(start - period, start)
    labels = sorted(((task, label, now_labels.get((task, label), 0), before.get((task, label), 0))
                     for task, label in set(now_labels) | set(before)), key=lambda r: (r[0], -r[2], r[1]))
    digest = Digest(start, end, hours, store.item_count(start, end), store.item_count(start - period, start),
                    trends.rising(found)[:limit], trends.fading(found)[:limit], busiest, keywords, labels)
    if chart_dir is not None:
        bin_seconds = max(60.0, period / 24)
        hourly = {tid: trends.binned(times.get(tid, []), end, bin_seconds, 48) for tid, _ in busiest}
        chart_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.fromtimestamp(end, UTC).strftime("%Y%m%d-%H%M")
        digest.chart = charts.trend_chart(chart_dir / f"digest-{stamp}.png", {
            f"#{tid} {', '.join(keywords.get(tid, [])[:3])}": counts for tid, counts in hourly.items()},
            end, bin_seconds)
    return digest


def _topic(d: Digest, tid: int, count: int) -> str:
    return f"#{tid} ({count} items): {', '.join(d.keywords.get(tid, [])[:6]) or 'no keywords yet'}"


def text(d: Digest) -> str:
    """The digest as plain text (the console, and the fallback text of a Slack message)."""
    lines = [d.title, f"{d.items} items, against {d.items_before} in the {d.hours:g} hours before.", "",
             "Rising:"]
    lines += [f"  {_topic(d, t.topic_id, t.latest)}, score {t.score:+.1f}" for t in d.rising] or \
        ["  nothing rose above its own baseline"]
    lines += ["", "Fading:"]
    lines += [f"  {_topic(d, t.topic_id, t.latest)}, usually {t.baseline:.1f}" for t in d.fading] or \
        ["  nothing faded"]
    lines += ["", "Busiest:"]
    lines += [f"  {_topic(d, tid, n)}" for tid, n in d.busiest] or ["  no items in this period"]
    if d.labels:
        lines += ["", "Labels (this period / the one before):"]
        lines += [f"  {task} = {label}: {now} / {before}" for task, label, now, before in d.labels]
    return "\n".join(lines)


def html(d: Digest) -> str:
    """The digest as one self-contained HTML page (the chart is embedded)."""
    e = html_lib.escape

    def section(title: str, rows: list[str], empty: str) -> str:
        items = "".join(f"<li>{e(r)}</li>" for r in rows) or f"<li><em>{e(empty)}</em></li>"
        return f"<h2>{e(title)}</h2><ul>{items}</ul>"

    chart = ""
    if d.chart and d.chart.is_file():
        chart = (f'<img alt="busiest topics over time" src="data:image/png;base64,'
                 f'{base64.b64encode(d.chart.read_bytes()).decode()}">')
    labels = "".join(f"<tr><td>{e(t)}</td><td>{e(label)}</td><td>{n}</td><td>{b}</td></tr>"
                     for t, label, n, b in d.labels)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(d.title)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.2em .8em}"
            "img{max-width:100%}</style></head><body>"
            f"<h1>{e(d.title)}</h1><p>{d.items} items, against {d.items_before} in the {d.hours:g} hours before.</p>"
            + section("Rising", [f"{_topic(d, t.topic_id, t.latest)}, score {t.score:+.1f}" for t in d.rising],
                      "nothing rose above its own baseline")
            + section("Fading", [f"{_topic(d, t.topic_id, t.latest)}, usually {t.baseline:.1f}" for t in d.fading],
                      "nothing faded")
            + section("Busiest", [_topic(d, tid, n) for tid, n in d.busiest], "no items in this period")
            + chart
            + (f"<h2>Labels</h2><table><tr><th>task</th><th>label</th><th>this period</th><th>before</th></tr>"
               f"{labels}</table>" if labels else "")
            + "</body></html>")


def report_dir(store_path: str, configured: str) -> Path:
    return Path(configured or f"{store_path}.reports")


def write(d: Digest, folder: Path) -> Path:
    """Write the digest's HTML page next to its chart; returns (and remembers) its path."""
    folder.mkdir(parents=True, exist_ok=True)
    d.report = folder / f"digest-{datetime.fromtimestamp(d.end, UTC).strftime('%Y%m%d-%H%M')}.html"
    d.report.write_text(html(d), encoding="utf-8")
    return d.report
