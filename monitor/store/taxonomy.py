"""The store's taxonomy records: the LLM's cache and daily budget, stored tasks, proposals and what they read."""

from __future__ import annotations

import json
import time
from typing import Any


class TaxonomyRecords:
    """LLM cache and budget, tasks accepted at run time, taxonomy proposals, topic centres.
    Mixed into ``Store``, whose ``db`` and ``_conn`` they use."""

    db: Any
    _conn: Any

    # the language model's cache and budget ------------------------------------------------------------------------
    def llm_cached(self, key: str) -> dict[str, Any] | None:
        row = self.db.execute("select answer from llm_cache where key = ?", [key]).fetchone()
        return json.loads(row[0]) if row else None

    def llm_remember(self, key: str, answer: dict[str, Any]) -> None:
        with self._conn:
            self._conn.execute("insert or replace into llm_cache (key, answer, created_at) values (?, ?, ?)",
                               [key, json.dumps(answer), time.time()])

    def llm_usage(self, day: str) -> tuple[int, int]:
        row = self.db.execute("select calls, tokens from llm_usage where day = ?", [day]).fetchone()
        return (int(row[0]), int(row[1])) if row else (0, 0)

    def llm_count(self, day: str, tokens: int) -> None:
        with self._conn:
            self._conn.execute("insert into llm_usage (day, calls, tokens) values (?, 1, ?) on conflict(day) do "
                               "update set calls = calls + 1, tokens = tokens + excluded.tokens", [day, tokens])

    # stored tasks and taxonomy proposals --------------------------------------------------------------------------
    def save_task(self, name: str, labels: list[dict[str, str]], metric: str, origin: str, user: str) -> None:
        with self._conn:
            self._conn.execute("insert into tasks (name, labels, metric, origin, created_by, created_at) "
                               "values (?, ?, ?, ?, ?, ?)", [name, json.dumps(labels), metric, origin, user,
                                                             time.time()])

    def stored_tasks(self) -> list[dict[str, Any]]:
        return [{**r, "labels": json.loads(r["labels"])} for r in self.db.query("select * from tasks order by "
                                                                                  "created_at")]

    def add_proposal(self, labels: list[dict[str, Any]], size: int, method: str, user: str, channel: str = "") -> int:
        with self._conn:
            return int(self._conn.execute(
                "insert into proposals (labels, size, status, method, channel, created_by, created_at) "
                "values (?, ?, 'open', ?, ?, ?, ?)", [json.dumps(labels), size, method, channel, user, time.time()]
            ).lastrowid or 0)

    def proposal(self, proposal_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from proposals where id = ?", [proposal_id]))
        return {**rows[0], "labels": json.loads(rows[0]["labels"])} if rows else None

    def update_proposal(self, proposal_id: int, **fields: Any) -> None:
        if "labels" in fields:
            fields["labels"] = json.dumps(fields["labels"])
        with self._conn:
            self._conn.execute(f"update proposals set {', '.join(f'{k} = ?' for k in fields)} where id = ?",
                               [*fields.values(), proposal_id])

