"""The store's watches: feeds and keyword rules added at run time (from Slack, the CLI or an OPML import), which
the daemon follows beside the configured ones."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Watch:
    """A feed (``kind="feed"``, ``target`` its URL) or keyword rule (``kind="keyword"``, ``target`` its regex)."""

    name: str
    kind: str
    target: str
    created_by: str
    created_at: float


class WatchRecords:
    """Mixed into ``Store``, whose ``db`` and ``_conn`` they use."""

    db: Any
    _conn: Any

    def watches(self) -> list[Watch]:
        """Feeds and keyword rules added at run time, oldest first."""
        return [Watch(r["name"], r["kind"], r["target"], r["created_by"] or "", r["created_at"]) for r in self.db.query(
            "select name, kind, target, created_by, created_at from watches order by created_at")]

    def add_watch(self, name: str, kind: str, target: str, user: str) -> None:
        with self._conn:
            self._conn.execute("insert into watches (name, kind, target, created_by, created_at) "
                               "values (?, ?, ?, ?, ?)", [name, kind, target, user, time.time()])

    def remove_watch(self, name: str) -> bool:
        with self._conn:
            return self._conn.execute("delete from watches where name = ?", [name]).rowcount > 0
