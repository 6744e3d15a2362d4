"""The end of the period a report covers: parsed from what a person types, or chosen for them.

A report covers the hours up to its end, on event time. Typed, ``2003-03-27`` means the end of that day (UTC), so
"the week ending 2003-03-27" includes the 27th; an ISO 8601 date and time (``2003-03-27T12:00``, UTC unless it says
otherwise) is taken as it is. Left out, the end is now, unless the store's newest item happened more than one
period ago (a replayed archive, or a store that has been quiet that long): then the period ends just after its
newest item, so the report shows the store's last period rather than an empty one.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from monitor.store.db import Store


def parse_end(text: str) -> float:
    """Epoch seconds of the end ``text`` names: a date (the end of that UTC day) or an ISO 8601 date and time."""
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip()) + timedelta(days=1)
            return datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"`{text}` is not a date (2003-03-27) or an ISO 8601 date and time (2003-03-27T12:00)") \
            from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def resolve_end(store: Store, end: float | None, period_seconds: float, now: float | None = None) -> float:
    """``end`` when given; else now, or just after the newest item when that happened more than a period ago."""
    if end is not None:
        return end
    now = time.time() if now is None else now
    span = store.event_span()
    if span is not None and span[1] < now - period_seconds:
        return span[1] + 1.0
    return now


def iso(ts: float) -> str:
    """``ts`` as ISO 8601 in UTC, to the second (``2003-03-27T00:00:00+00:00``)."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")
