"""The store's report queries: status counts, the largest topics, links and titles, label agreement."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


class ReportQueries:
    """What `lookout status`, `topics`, `items` and the Slack views read.
    Mixed into ``Store``, whose ``db`` and ``_conn`` they use."""

    db: Any
    _conn: Any
    _final_topic: Callable[[], Callable[[int], int]]

    # reports ------------------------------------------------------------------------------------------------------
    def status(self, zone: str = "UTC") -> dict[str, Any]:
        """Counts and source health for ``lookout status``; "today" starts at midnight in the IANA time ``zone``."""
        today = datetime.now(ZoneInfo(zone)).replace(hour=0, minute=0, second=0, microsecond=0)
        midnight = today.timestamp()

        def one(sql: str, args: Iterable[Any] = ()) -> Any:
            return self.db.execute(sql, list(args)).fetchone()[0]

        return {
            "items": one("select count(*) from items"),
            "items_today": one("select count(*) from items where stored_at >= ?", [midnight]),
            "pending": one("select count(*) from items where state = 'new'"),
            "failed": one("select count(*) from items where state = 'failed'"),
            "alerts_today": one("select count(*) from alerts where created_at >= ?", [midnight]),
            "alerts_by_status": {r["status"]: r["n"] for r in self.db.query(
                "select status, count(*) as n from alerts group by status")},
            "topics": one("select count(*) from topics where alive = 1"),
            "labels": [dict(r) for r in self.db.query(
                "select task, label, count(*) as n, avg(confidence) as confidence, sum(unsure) as unsure "
                "from labels group by task, label order by task, n desc")],
            "sources": [dict(r) for r in self.db.query(
                "select sources.*, (select count(*) from items where items.source = sources.name and "
                "items.stored_at >= ?) as items_today from sources order by name", [midnight])],
        }

