"""Reports as plain JSON-ready dicts, for ``--json``: the keys are stable and documented in docs/trends.md. Times
are ISO 8601 in UTC and, like everything in reports, event times."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from monitor.reports import trends
from monitor.reports.digest import Digest, sections, typical
from monitor.reports.periods import iso

if TYPE_CHECKING:
    from monitor.service import TrendReport
    from monitor.store.topics import TopicRow


def topic(t: TopicRow, spans: dict[int, tuple[float, float]], title: str = "") -> dict[str, Any]:
    """One row of ``lookout topics --json``."""
    first, last = spans.get(t.id, (None, None))
    return {"id": t.id, "name": t.name, "size": t.size, "keywords": list(t.keywords),
            "first_seen": iso(first) if first is not None else None,
            "last_seen": iso(last) if last is not None else None, "typical_item": title}


def _about(tid: int, names: dict[int, str], keywords: dict[int, list[str]]) -> dict[str, Any]:
    return {"topic": tid, "name": names.get(tid, ""), "keywords": keywords.get(tid, [])[:10]}


def _new(t: trends.NewTopic, names: dict[int, str], keywords: dict[int, list[str]]) -> dict[str, Any]:
    return {**_about(t.topic_id, names, keywords), "first_seen": iso(t.born), "items": t.items, "latest": t.latest}


def _scored(t: trends.Trend, names: dict[int, str], keywords: dict[int, list[str]]) -> dict[str, Any]:
    return {**_about(t.topic_id, names, keywords), "latest": t.latest, "baseline": round(t.baseline, 3),
            "score": round(t.score, 3), "history": t.history}


def trend_report(r: TrendReport) -> dict[str, Any]:
    """``lookout trends --json``."""
    names, words = r.names, r.keywords
    return {"start": iso(r.start), "end": iso(r.end), "bin_minutes": r.bin_seconds / 60, "history_bins": r.history,
            "warmup_bins": r.warmup, "first_event": iso(r.first_event) if r.first_event is not None else None,
            "new": [_new(t, names, words) for t in r.new],
            "rising": [_scored(t, names, words) for t in r.rising],
            "fading": [_scored(t, names, words) for t in r.fading],
            "climbing": [{**_scored(t, names, words), "slope": round(t.slope, 3), "t": round(t.climb_t, 3)}
                         for t in r.climbing],
            "labels": [{"task": t.task, "label": t.label, "latest": t.latest, "baseline": round(t.baseline, 3),
                        "score": round(t.score, 3)} for t in r.labels]}


def digest(d: Digest) -> dict[str, Any]:
    """``lookout digest --json``: the sections as the text shows them, each topic with its typical item."""
    scored = {t.topic_id: t for t in [*d.rising, *d.fading]}
    born = {t.topic_id: t for t in d.new}

    def row(title: str, tid: int, count: int) -> dict[str, Any]:
        name, url = typical(d, tid)
        out = {**_about(tid, d.names, d.keywords), "items": count, "typical": {"title": name, "url": url}}
        if title == "New":
            out["first_seen"] = iso(born[tid].born)
        elif title in ("Rising", "Fading"):
            out |= {"baseline": round(scored[tid].baseline, 3), "score": round(scored[tid].score, 3)}
        return out

    return {"title": d.title, "start": iso(d.start), "end": iso(d.end), "hours": d.hours, "items": d.items,
            "items_before": d.items_before, "history_periods": d.history, "warmup_periods": d.warmup,
            **{title.lower(): [row(title, tid, n) for tid, n, _ in rows] for title, rows, _ in sections(d)},
            "labels": [{"task": t, "label": label, "items": n, "items_before": b} for t, label, n, b in d.labels],
            "chart": str(d.chart) if d.chart else None, "report": str(d.report) if d.report else None}
