"""The store's channel subscriptions: what a Slack channel asked to be told about (a feed, a keyword, a topic or a
label), each routed to that channel by the alert rules ``monitor.subscriptions`` makes of them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Subscription:
    """One channel's subscription: ``kind`` is feed, keyword, topic or label; ``target`` the feed URL, the regex,
    the topic number or ``task=label``; ``source`` the watched feed's name (feeds only), ``owns_watch`` whether the
    subscription added that feed (and takes it away with it)."""

    id: int
    channel: str
    kind: str
    target: str
    source: str
    owns_watch: bool
    created_by: str
    created_at: float


def _row(r: dict[str, Any]) -> Subscription:
    return Subscription(r["id"], r["channel"], r["kind"], r["target"], r["source"] or "", bool(r["owns_watch"]),
                        r["created_by"] or "", r["created_at"])


class SubscriptionRecords:
    """Mixed into ``Store``, whose ``db``, ``_conn`` and ``_final_topic`` they use."""

    db: Any
    _conn: Any
    _final_topic: Any

    def subscriptions(self, channel: str | None = None) -> list[Subscription]:
        """Every subscription (or one channel's), oldest first."""
        where, args = ("where channel = ?", [channel]) if channel is not None else ("", [])
        return [_row(r) for r in self.db.query(f"select * from subscriptions {where} order by id", args)]

    def subscription(self, sub_id: int) -> Subscription | None:
        rows = list(self.db.query("select * from subscriptions where id = ?", [sub_id]))
        return _row(rows[0]) if rows else None

    def add_subscription(self, channel: str, kind: str, target: str, source: str, owns_watch: bool,
                         user: str) -> Subscription:
        with self._conn:
            cursor = self._conn.execute(
                "insert into subscriptions (channel, kind, target, source, owns_watch, created_by, created_at) "
                "values (?, ?, ?, ?, ?, ?, ?)", [channel, kind, target, source, int(owns_watch), user, time.time()])
        found = self.subscription(int(cursor.lastrowid))
        assert found is not None
        return found

    def remove_subscription(self, sub_id: int) -> None:
        with self._conn:
            self._conn.execute("delete from subscriptions where id = ?", [sub_id])

    def live_topic(self, topic_id: int) -> int:
        """The topic ``topic_id`` lives on in now, following merges."""
        return int(self._final_topic()(topic_id))
