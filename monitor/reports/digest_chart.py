"""The digest's chart: the new and rising topics (else the busiest) over the periods the digest compared, in bins
a person reads at a glance (hours for a day, days for a week), with the period reported on shaded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from monitor.ingest.text import neutral
from monitor.reports import charts, trends
from monitor.reports.digest import Digest
from monitor.store.db import Store

MAX_BINS = 60
NICE_BINS = [(60, "minute"), (300, "5 minutes"), (900, "15 minutes"), (1800, "30 minutes"), (3600, "hour"),
             (7200, "2 hours"), (10800, "3 hours"), (21600, "6 hours"), (43200, "12 hours"), (86400, "day"),
             (604800, "week")]


def bin_width(span_seconds: float) -> tuple[float, str]:
    """The narrowest of ``NICE_BINS`` that splits ``span_seconds`` into at most ``MAX_BINS`` bins, with its name."""
    return next(((w, n) for w, n in NICE_BINS if span_seconds / w <= MAX_BINS), NICE_BINS[-1])


def draw(d: Digest, store: Store, folder: Path, history: int, first_event: float | None) -> Path:
    """Draw ``d``'s chart into ``folder`` over its ``history`` earlier periods (from the store's ``first_event``
    when that is later); returns the PNG's path."""
    period = d.hours * 3600
    begin = d.end - (history + 1) * period
    if first_event is not None:
        begin = max(begin, min(first_event, d.start))
    width, unit = bin_width(d.end - begin)
    bins = max(1, int(-(-(d.end - begin) // width)))
    picked = [("new", t.topic_id) for t in d.new] + [("rising", t.topic_id) for t in d.rising]
    if not picked:
        picked = [("", tid) for tid, _ in d.busiest]
    times = store.topic_times(d.end - bins * width, d.end)
    series = {f"{kind + ': ' if kind else ''}#{tid} {neutral(_name(d, tid))}":
              trends.binned(times.get(tid, []), d.end, width, bins) for kind, tid in picked}
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(d.end, UTC).strftime("%Y%m%d-%H%M")
    what = "New and rising topics" if d.new or d.rising else "Busiest topics"
    return charts.trend_chart(folder / f"digest-{stamp}.png", series, d.end, width, highlight=(d.start, d.end),
                              title=f"{what}, items per {unit}", ylabel=f"items per {unit}")


def _name(d: Digest, tid: int) -> str:
    return d.names.get(tid) or ", ".join(d.keywords.get(tid, [])[:3])
