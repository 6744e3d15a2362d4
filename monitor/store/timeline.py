"""The store's time-series queries, all on event time (``items.event_time``: when an item happened, see
``Item.event_time``), not on arrival: what trends, digests, burst priming and backtests read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from models.classifier import Prediction
from monitor.ingest.item import Item
from monitor.store.rows import row_item

HISTORY_CHUNK = 2000


class Timeline:
    """Items and their labels by event time. Mixed into ``Store``, whose ``db`` and ``_final_topic`` they use."""

    db: Any
    _final_topic: Callable[[], Callable[[int], int]]

    def topic_times(self, since: float, until: float | None = None) -> dict[int, list[float]]:
        """Event times of the enriched items of each topic in ``[since, until)``; merged topics count for the one
        they joined."""
        final = self._final_topic()
        times: dict[int, list[float]] = {}
        for r in self.db.query("select topic_id, event_time from items where state = 'done' and event_time >= ? "
                               "and event_time < ?", [since, _until(until)]):
            times.setdefault(final(r["topic_id"]), []).append(r["event_time"])
        return times

    def label_times(self, since: float, until: float | None = None) -> dict[tuple[str, str], list[float]]:
        """Event times of the items of each (task, label) in ``[since, until)``."""
        times: dict[tuple[str, str], list[float]] = {}
        for r in self.db.query("select labels.task, labels.label, items.event_time from labels join items on "
                               "items.id = labels.item_id where items.event_time >= ? and items.event_time < ?",
                               [since, _until(until)]):
            times.setdefault((r["task"], r["label"]), []).append(r["event_time"])
        return times

    def label_counts(self, since: float, until: float) -> dict[tuple[str, str], int]:
        """How many items that happened in ``[since, until)`` have each (task, label)."""
        return {(r["task"], r["label"]): r["n"] for r in self.db.query(
            "select labels.task, labels.label, count(*) as n from labels join items on items.id = labels.item_id "
            "where items.event_time >= ? and items.event_time < ? group by labels.task, labels.label",
            [since, until])}

    def item_count(self, since: float, until: float) -> int:
        """How many items happened in ``[since, until)``."""
        return self.db.execute("select count(*) from items where event_time >= ? and event_time < ?",
                               [since, until]).fetchone()[0]

    def event_span(self) -> tuple[float, float] | None:
        """The event times of the first and the last enriched item, or None when there is none."""
        first, last = self.db.execute("select min(event_time), max(event_time) from items "
                                      "where state = 'done'").fetchone()
        return None if first is None else (first, last)

    def topic_counts(self, until: float) -> dict[int, int]:
        """How many enriched items of each topic (followed through merges) happened before ``until``."""
        final = self._final_topic()
        counts: dict[int, int] = {}
        for r in self.db.query("select topic_id, count(*) as n from items where state = 'done' and event_time < ? "
                               "and topic_id is not null group by topic_id", [until]):
            counts[final(r["topic_id"])] = counts.get(final(r["topic_id"]), 0) + r["n"]
        return counts

    def history(self, since: float, until: float | None = None) -> Iterator[tuple[Item, int, list[Prediction]]]:
        """The enriched items that happened in ``[since, until)``, in event-time order, each with its topic (followed
        through merges) and its labels; read in chunks, so a long period does not sit in memory."""
        final = self._final_topic()
        after, last_id = float("-inf"), ""
        while True:
            rows = list(self.db.query(
                "select id, source, title, text, url, author, published, fetched, raw, topic_id, event_time from items "
                "where state = 'done' and event_time >= ? and event_time < ? and (event_time > ? or "
                "(event_time = ? and id > ?)) order by event_time, id limit ?",
                [since, _until(until), after, after, last_id, HISTORY_CHUNK]))
            if not rows:
                return
            labels: dict[str, list[Prediction]] = {}
            for r in self.db.query("select * from labels where item_id in "
                                   f"({','.join('?' * len(rows))}) order by task", [r["id"] for r in rows]):
                labels.setdefault(r["item_id"], []).append(
                    Prediction(r["task"], r["label"], r["confidence"], bool(r["unsure"]), r["model"]))
            for r in rows:
                yield row_item(r), final(r["topic_id"]) if r["topic_id"] else 0, labels.get(r["id"], [])
            after, last_id = rows[-1]["event_time"], rows[-1]["id"]


def _until(until: float | None) -> float:
    return float("inf") if until is None else until
