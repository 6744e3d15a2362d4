"""Trend digests: over a period (an hour, a day, a week), which topics are new, which rose and faded against their
own history, which were busiest, and how the labels moved against the period before, with a chart.

``build`` reads the store (on event time); ``text`` and ``html`` render a digest (the HTML embeds its chart, so it is
one file).
"""

from __future__ import annotations

import base64
import html as html_lib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from monitor.ingest.text import neutral, neutral_url
from monitor.reports import trends
from monitor.store.db import Store


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
    names: dict[int, str] = field(default_factory=dict)
    typical: dict[int, tuple[str, str]] = field(default_factory=dict)
    chart: Path | None = None
    report: Path | None = None
    new: list[trends.NewTopic] = field(default_factory=list)
    history: int = 0
    warmup: int = 1

    @property
    def title(self) -> str:
        return f"Lookout digest, {_when(self.start)} to {_when(self.end)} UTC"

    @property
    def young(self) -> bool:
        """The store had too few earlier periods to call anything new or rising."""
        return self.history < self.warmup


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def build(store: Store, hours: float = 24.0, history: int = 7, limit: int = 5, chart_dir: Path | None = None,
          now: float | None = None) -> Digest:
    """The digest of the ``hours`` up to ``now`` (default: the current time), on event time: topics born in it are
    new; the others' counts are scored against as many of their last ``history`` periods as the store has watched;
    labels are counted in this period and the one before. With ``chart_dir``, a chart of the new and rising topics
    (else the busiest) over the compared periods is drawn there."""
    end = time.time() if now is None else now
    period = hours * 3600
    start = end - period
    times = store.topic_times(end - (history + 1) * period, end)
    series = {tid: trends.binned(ts, end, period, history + 1) for tid, ts in times.items()}
    span = store.event_span()
    spans = store.topic_spans()
    moved = trends.movers(series, {tid: first for tid, (first, _) in spans.items()}, span[0] if span else None, end,
                          period, start, min(3, history))
    busiest = sorted(((tid, int(c[-1])) for tid, c in series.items() if c[-1]), key=lambda p: (-p[1], p[0]))[:limit]
    topics = store.topics_by_id(series)
    now_labels, before = store.label_counts(start, end), store.label_counts(start - period, start)
    labels = sorted(((task, label, now_labels.get((task, label), 0), before.get((task, label), 0))
                     for task, label in set(now_labels) | set(before)), key=lambda r: (r[0], -r[2], r[1]))
    new, rising, fading = moved.new[:limit], moved.rising[:limit], moved.fading[:limit]
    shown = {t.topic_id for t in [*new, *rising, *fading]} | {tid for tid, _ in busiest}
    first = {tid: topics[tid].typical_id for tid in shown if tid in topics and topics[tid].typical_id}
    found_links = store.links(list(first.values()))
    digest = Digest(start, end, hours, store.item_count(start, end), store.item_count(start - period, start),
                    rising, fading, busiest, {tid: list(t.keywords) for tid, t in topics.items()}, labels,
                    names={tid: topics[tid].name for tid in shown if tid in topics and topics[tid].name},
                    typical={tid: (" ".join(found_links[item][0].split()), found_links[item][1])
                             for tid, item in first.items() if item in found_links},
                    new=new, history=moved.history, warmup=moved.warmup)
    if chart_dir is not None:
        from monitor.reports import digest_chart  # matplotlib, only when a chart is drawn

        digest.chart = digest_chart.draw(digest, store, chart_dir, history, span[0] if span else None)
    return digest


def topic_heading(d: Digest, tid: int, count: int) -> str:
    """``#12 outage / api (40 items): outage, api, latency``: number, short name, count and keywords."""
    name = f" {neutral(d.names[tid])}" if tid in d.names else ""
    return f"#{tid}{name} ({count} items): {neutral(', '.join(d.keywords.get(tid, [])[:6])) or 'no keywords yet'}"


def typical(d: Digest, tid: int) -> tuple[str, str]:
    """A topic's typical item as (title, URL), each made safe to show (``neutral``, ``neutral_url``)."""
    name, url = d.typical.get(tid, ("", ""))
    return neutral(name), neutral_url(url)


def sections(d: Digest) -> list[tuple[str, list[tuple[int, int, str]], str]]:
    """The topic sections every rendering shows: title, (topic, count, what follows the keywords) per topic, and the
    line for an empty section."""
    young = (f"{d.history} earlier period{'s' if d.history != 1 else ''} of watched history; telling new and "
             f"rising topics needs {d.warmup}")
    return [("New", [(t.topic_id, t.items, f", first seen {_when(t.born)}") for t in d.new],
             young if d.young else "no new topic"),
            ("Rising", [(t.topic_id, t.latest, f", score {t.score:+.1f}") for t in d.rising],
             young if d.young else "nothing rose above its own baseline"),
            ("Fading", [(t.topic_id, t.latest, f", usually {t.baseline:.1f}") for t in d.fading], "nothing faded"),
            ("Busiest", [(tid, n, "") for tid, n in d.busiest], "no items in this period")]


def text(d: Digest) -> str:
    """The digest as plain text (the console, and the fallback text of a Slack message)."""
    lines = [d.title, f"{d.items} items, against {d.items_before} in the {d.hours:g} hours before."]
    for title, rows, empty in sections(d):
        lines += ["", f"{title}:"]
        for tid, count, tail in rows:
            lines.append(f"  {topic_heading(d, tid, count)}{tail}")
            name, url = typical(d, tid)
            if name or url:
                lines.append(f"      e.g. {name or 'untitled'}" + (f" <{url}>" if url else ""))
        if not rows:
            lines.append(f"  {empty}")
    if d.labels:
        lines += ["", "Labels (this period / the one before):"]
        lines += [f"  {neutral(task)} = {neutral(label)}: {now} / {before}" for task, label, now, before in d.labels]
    return "\n".join(lines)


def html(d: Digest) -> str:
    """The digest as one self-contained HTML page (the chart is embedded; typical items are linked)."""
    e = html_lib.escape

    def row(tid: int, count: int, tail: str) -> str:
        name, url = typical(d, tid)
        shown = e(name or url or "untitled")
        example = "" if not (name or url) else \
            f'<br><small>e.g. <a href="{e(url)}">{shown}</a></small>' if url.startswith(("http://", "https://")) \
            else f"<br><small>e.g. {shown}</small>"
        return f"<li>{e(topic_heading(d, tid, count) + tail)}{example}</li>"

    body = "".join(f"<h2>{e(title)}</h2><ul>{''.join(row(*r) for r in rows) or f'<li><em>{e(empty)}</em></li>'}"
                   "</ul>" for title, rows, empty in sections(d))
    chart = ""
    if d.chart and d.chart.is_file():
        chart = (f'<img alt="busiest topics over time" src="data:image/png;base64,'
                 f'{base64.b64encode(d.chart.read_bytes()).decode()}">')
    labels = "".join(f"<tr><td>{e(neutral(t))}</td><td>{e(neutral(label))}</td><td>{n}</td><td>{b}</td></tr>"
                     for t, label, n, b in d.labels)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{e(d.title)}</title>"
            "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto}td,th{padding:.2em .8em}"
            "img{max-width:100%}</style></head><body>"
            f"<h1>{e(d.title)}</h1><p>{d.items} items, against {d.items_before} in the {d.hours:g} hours before.</p>"
            + body + chart
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
