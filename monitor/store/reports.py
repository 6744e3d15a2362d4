"""The store's report queries: status counts, the largest topics, links and titles, label agreement."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from monitor.store.rows import LabelledItem, item_ref


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

    def top_topics(self, limit: int = 10, min_size: int = 1) -> list[dict[str, Any]]:
        rows = self.db.query("select id, size, first_seen, last_seen, keywords, name, representatives from topics "
                             "where alive = 1 and size >= ? order by size desc, id limit ?", [min_size, limit])
        return [{**r, "keywords": json.loads(r["keywords"]),
                 "representatives": json.loads(r["representatives"])} for r in rows]

    def topics_by_id(self, ids: Iterable[int]) -> dict[int, dict[str, Any]]:
        """The topics ``ids``, live or not, shaped like ``top_topics``' rows (reports on a past period name topics
        that were forgotten or merged since)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self.db.query("select id, size, first_seen, last_seen, keywords, name, representatives from topics "
                             f"where id in ({','.join('?' * len(wanted))})", wanted)
        return {r["id"]: {**r, "keywords": json.loads(r["keywords"]),
                          "representatives": json.loads(r["representatives"])} for r in rows}

    def links(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Each item's title and URL ('' when it has none)."""
        if not ids:
            return {}
        return {r["id"]: (r["title"] or "", r["url"] or "") for r in self.db.query(
            f"select id, title, url from items where id in ({','.join('?' * len(ids))})", list(ids))}

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        return {item: title for item, (title, _) in self.links(ids).items()}

    def items_with_label(self, task: str | None, label: str | None, limit: int = 20) -> list[LabelledItem]:
        """The newest enriched items, optionally only those with ``label`` (in ``task`` if given)."""
        where, args = ["items.state = 'done'"], []
        if task or label:
            where.append("items.id in (select item_id from labels where "
                         + " and ".join(c for c, v in (("task = ?", task), ("label = ?", label)) if v) + ")")
            args.extend(v for v in (task, label) if v)
        sql = ("select items.id, items.title, items.url, items.source, items.topic_id, "
               "group_concat(labels.task || '=' || labels.label || ' ' || printf('%.2f', labels.confidence), "
               "', ') as labels from items left join labels on labels.item_id = items.id "
               f"where {' and '.join(where)} group by items.id order by items.rowid desc limit ?")
        return [LabelledItem(item_ref(r), r["labels"] or "") for r in self.db.query(sql, [*args, limit])]

    def label_agreement(self, tasks: dict[str, list[str]]) -> list[tuple[str, int, int]]:
        """For each task, over items whose own ``label`` field is one of the task's labels: (task, items, agreed)."""
        out = []
        for task, names in tasks.items():
            n, agree = self.db.execute(
                "select count(*), coalesce(sum(labels.label = json_extract(items.raw, '$.label')), 0) from labels "
                "join items on items.id = labels.item_id where labels.task = ? and json_extract(items.raw, '$.label') "
                f"in ({','.join('?' * len(names))})", [task, *names]).fetchone()
            if n:
                out.append((task, n, agree))
        return out

    def topic_spans(self) -> dict[int, tuple[float, float]]:
        """The first and last event time of each topic's enriched items; merged topics count for the one they
        joined, so a topic is born when its oldest member happened."""
        final = self._final_topic()
        spans: dict[int, tuple[float, float]] = {}
        for r in self.db.query("select topic_id, min(event_time) as first, max(event_time) as last from items "
                               "where state = 'done' and topic_id is not null group by topic_id"):
            tid = final(r["topic_id"])
            first, last = spans.get(tid, (r["first"], r["last"]))
            spans[tid] = (min(first, r["first"]), max(last, r["last"]))
        return spans
