"""The store's mutes: a topic silenced for one rule or all of them, for good or until a time, and lifted again."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from monitor.enrich.alerts import Mute


@dataclass(frozen=True)
class MuteRow:
    """A mute as stored: set on ``topic_id`` by ``user``, for ``rule`` (every rule when ""), until ``until`` (for good
    when None); ``on`` is the topic it applies to now (merges followed)."""

    topic_id: int
    rule: str
    user: str
    created_at: float
    until: float | None
    on: int


class MuteRecords:
    """Mixed into ``Store``, whose ``db``, ``_conn`` and ``_final_topic`` they use. A mute is kept on the topic it
    was set on and applies to the topic that topic lives on in now (merges followed)."""

    db: Any
    _conn: Any
    _final_topic: Callable[[], Callable[[int], int]]

    def mute(self, topic_id: int, user: str, rule: str = "", until: float | None = None) -> None:
        """Silence ``rule`` (every rule when empty) on ``topic_id`` until ``until`` (for good when None); a mute of
        the same topic and rule is replaced."""
        with self._conn:
            self._conn.execute("insert or replace into mutes (topic_id, rule, user, created_at, until) "
                               "values (?, ?, ?, ?, ?)", [topic_id, rule, user, time.time(), until])

    def unmute(self, topic_id: int, rule: str | None = None) -> list[MuteRow]:
        """Lift the mutes in force on ``topic_id`` (set on it or on a topic merged into it): only ``rule``'s (""
        for the topic-wide one) when given; returns the mutes lifted."""
        lifted = [m for m in self.mutes() if topic_id in (m.on, m.topic_id) and rule in (None, m.rule)]
        with self._conn:
            self._conn.executemany("delete from mutes where topic_id = ? and rule = ?",
                                   [(m.topic_id, m.rule) for m in lifted])
        return lifted

    def mutes(self, now: float | None = None) -> list[MuteRow]:
        """The mutes in force at ``now`` (default: the time now), oldest first; ``on`` is the topic each applies
        to now."""
        final = self._final_topic()
        at = time.time() if now is None else now
        return [MuteRow(r["topic_id"], r["rule"], r["user"] or "", r["created_at"], r["until"], final(r["topic_id"]))
                for r in self.db.query(
            "select topic_id, rule, user, created_at, until from mutes where until is null or until > ? "
            "order by created_at, topic_id", [at])]

    def muted(self, now: float | None = None) -> set[Mute]:
        """The mutes in force at ``now``, each on the topic it applies to now, for ``AlertEngine``."""
        return {Mute(m.on, m.rule, m.until) for m in self.mutes(now)}
