"""The store's alert outbox: an alert is written with the batch that fired it (``pending``), marked ``sending`` just
before its send and ``sent``, ``failed`` or ``unknown`` just after, so a crash never sends one twice."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from monitor.enrich.alerts import Alert


@dataclass(frozen=True)
class SentAlert:
    """An alert as the outbox holds it: ``status`` is pending, sending, sent, failed or unknown."""

    alert: Alert
    status: str


class OutboxRecords:
    """Mixed into ``Store``, whose ``db`` and ``_conn`` they use."""

    db: Any
    _conn: Any

    def recover_interrupted(self) -> int:
        """Alerts a crash caught mid-send (at most one per channel) become ``unknown``: never sent twice, at the cost
        of maybe never; ``unknown_alerts`` lists them for the operator."""
        with self._conn:
            return self._conn.execute("update alerts set status = 'unknown' where status = 'sending'").rowcount

    def pending_alerts(self, channel: str, limit: int = 50) -> list[tuple[int, Alert]]:
        """The oldest alerts waiting for delivery to ``channel``, in the order they fired."""
        return [(r["id"], Alert(**json.loads(r["payload"]))) for r in self.db.query(
            "select id, payload from alerts where status = 'pending' and channel = ? order by id limit ?",
            [channel, limit])]

    def pending_channels(self) -> list[str]:
        """The channels that have alerts waiting for delivery."""
        return [r["channel"] for r in self.db.query(
            "select distinct channel from alerts where status = 'pending' order by channel")]

    def start_alert(self, alert_id: int) -> None:
        """Mark an alert ``sending``, just before its send."""
        with self._conn:
            self._conn.execute("update alerts set status = 'sending' where id = ?", [alert_id])

    def release_alert(self, alert_id: int) -> None:
        """Put an alert whose send must be tried again later back in the queue."""
        with self._conn:
            self._conn.execute("update alerts set status = 'pending' where id = ? and status = 'sending'", [alert_id])

    def finish_alert(self, alert_id: int, error: str = "") -> None:
        """Record the outcome of an alert's send, just after it: delivered (no error) or failed (the error)."""
        with self._conn:
            self._conn.execute("update alerts set status = ?, error = ?, sent_at = ? where id = ?",
                               ["failed" if error else "sent", error, time.time(), alert_id])

    def alert_unknown(self, alert_id: int, error: str) -> None:
        """Record that an alert's send went out but got no answer: it may or may not have been delivered."""
        with self._conn:
            self._conn.execute("update alerts set status = 'unknown', error = ? where id = ?", [error, alert_id])

    def unknown_alerts(self) -> list[Alert]:
        """Alerts that may or may not have reached Slack (Lookout stopped while sending them, or Slack did not answer
        a send), oldest first."""
        return [Alert(**json.loads(r["payload"])) for r in self.db.query(
            "select payload from alerts where status = 'unknown' order by id")]

    def cooldowns(self, since: float) -> dict[tuple[str, str], float]:
        """When (in event time) each (rule, cooldown key) last fired, for alerts on items of ``since`` or later."""
        return {(r["rule"], r["cooldown_key"]): r["at"] for r in self.db.query(
            "select rule, cooldown_key, max(event_time) as at from alerts where event_time >= ? "
            "group by rule, cooldown_key", [since])}

    def recent_alerts(self, limit: int = 5) -> list[SentAlert]:
        """The last ``limit`` alerts that fired, newest first, with their delivery status."""
        return [SentAlert(Alert(**json.loads(r["payload"])), r["status"]) for r in self.db.query(
            "select payload, status from alerts order by id desc limit ?", [limit])]
