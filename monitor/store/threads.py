"""The store's alert threads: where each alert was posted (channel id and ``ts``, so a reaction finds it), and per
channel and topic the first alert's message that later alerts about the topic follow under.

An alert's post and its place in a thread are recorded in one transaction just after the post, so a restart
threads the next alert under the same message, and the count the first message shows is redrawn from what is
stored (``shown`` trails ``count`` until the redraw succeeds)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from monitor.enrich.alerts import Alert


@dataclass(frozen=True)
class Thread:
    """The first alert about ``topic_id`` in ``channel`` (``root_alert``, posted as ``ts`` in ``posted_channel``):
    ``count`` alerts are in it so far, root included, and the root message shows ``shown`` of them."""

    id: int
    channel: str
    topic_id: int
    root_alert: int
    posted_channel: str
    ts: str
    count: int
    shown: int


def _thread(r: dict[str, Any]) -> Thread:
    return Thread(r["id"], r["channel"], r["topic_id"], r["root_alert"], r["posted_channel"], r["ts"], r["count"],
                  r["shown"])


class ThreadRecords:
    """Mixed into ``Store``, whose ``db``, ``_conn`` and ``_final_topic`` they use."""

    db: Any
    _conn: Any
    _final_topic: Any

    def thread_for(self, channel: str, topic_id: int, since: float) -> Thread | None:
        """The newest thread in ``channel`` started since ``since`` about ``topic_id``, or about a topic that has
        merged into the same one since."""
        final = self._final_topic()
        for r in self.db.query("select * from threads where channel = ? and started_at >= ? order by id desc",
                               [channel, since]):
            if final(r["topic_id"]) == final(topic_id):
                return _thread(r)
        return None

    def alert_posted(self, alert_id: int, alert: Alert, posted_channel: str, ts: str, thread: Thread | None,
                     threads: bool) -> Thread | None:
        """Record that an alert was delivered (as ``ts`` in ``posted_channel``, in ``thread`` when given) and, with
        ``threads``, count it in its thread or start one; returns the thread as it now stands."""
        now = time.time()
        with self._conn:
            self._conn.execute("update alerts set status = 'sent', error = '', sent_at = ?, posted_channel = ?, "
                               "ts = ?, thread_ts = ? where id = ?",
                               [now, posted_channel, ts, thread.ts if thread else "", alert_id])
            if thread is not None:
                self._conn.execute("update threads set count = count + 1, last_at = ? where id = ?",
                                   [now, thread.id])
                thread_id = thread.id
            elif threads and ts:
                thread_id = self._conn.execute(
                    "insert into threads (channel, topic_id, root_alert, posted_channel, ts, count, shown, "
                    "started_at, last_at) values (?, ?, ?, ?, ?, 1, 1, ?, ?)",
                    [alert.channel, alert.topic_id, alert_id, posted_channel, ts, now, now]).lastrowid
            else:
                return None
        return _thread(next(iter(self.db.query("select * from threads where id = ?", [thread_id]))))

    def thread_shown(self, thread_id: int, count: int) -> None:
        """Record that the thread's first message now shows ``count`` alerts."""
        with self._conn:
            self._conn.execute("update threads set shown = max(shown, ?) where id = ?", [count, thread_id])

    def stale_threads(self, since: float) -> list[Thread]:
        """Threads started since ``since`` whose first message shows fewer alerts than they hold (a redraw that
        failed, or a stop between a follow-up's post and the redraw)."""
        return [_thread(r) for r in self.db.query(
            "select * from threads where started_at >= ? and shown < count order by id", [since])]

    def thread_alerts(self, thread: Thread) -> tuple[Alert, Alert]:
        """The first and the latest alert of ``thread``."""
        root = self.db.execute("select payload from alerts where id = ?", [thread.root_alert]).fetchone()[0]
        latest = self.db.execute(
            "select payload from alerts where posted_channel = ? and thread_ts = ? and status = 'sent' "
            "order by id desc limit 1", [thread.posted_channel, thread.ts]).fetchone()
        return Alert(**json.loads(root)), Alert(**json.loads(latest[0] if latest else root))

    def alert_at(self, posted_channel: str, ts: str) -> tuple[int, Alert] | None:
        """The alert posted as message ``ts`` in channel ``posted_channel`` (a channel id), or None."""
        row = self.db.execute("select id, payload from alerts where posted_channel = ? and ts = ?",
                              [posted_channel, ts]).fetchone()
        return (row[0], Alert(**json.loads(row[1]))) if row else None
