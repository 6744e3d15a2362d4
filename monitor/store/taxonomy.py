"""The store's taxonomy records: the LLM's cache and daily budget, stored tasks, proposals and what they read."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from monitor.store.rows import ItemDetail, ItemLabel


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

    def topic_centres(self) -> tuple[list[int], np.ndarray, list[int]]:
        """Ids, unit centres and sizes of the live topics (for grouping them)."""
        rows = list(self.db.query("select id, size, vector_sum from topics where alive = 1 order by id"))
        if not rows:
            return [], np.zeros((0, 0)), []
        sums = np.stack([np.frombuffer(r["vector_sum"], dtype=np.float64) for r in rows])
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        return [r["id"] for r in rows], sums / np.where(norms == 0, 1, norms), [r["size"] for r in rows]

    def topic_terms(self, topic_id: int) -> dict[int, Counter[str]]:
        """The term counts of every live topic, and of ``topic_id`` even when it is gone (for its c-TF-IDF)."""
        return {r["id"]: Counter(json.loads(r["terms"] or "{}")) for r in self.db.query(
            "select id, terms from topics where alive = 1 or id = ?", [topic_id])}

    def topic_names(self, ids: Iterable[int]) -> dict[int, str]:
        """Each topic's short name, or its first keywords when it has none."""
        wanted = list(ids)
        rows = self.db.query(f"select id, name, keywords from topics where id in ({','.join('?' * len(wanted))})",
                             wanted)
        return {r["id"]: r["name"] or ", ".join(json.loads(r["keywords"] or "[]")[:3]) for r in rows}

    def item_detail(self, item_id: str) -> ItemDetail:
        """An item's state, topics, stored embedding and labels."""
        row = next(self.db.query("select state, topic_id, embedding from items where id = ?", [item_id]))
        embedding = np.frombuffer(row["embedding"], dtype=np.float32) if row["embedding"] else None
        labels = tuple(ItemLabel(r["task"], r["label"], r["confidence"], r["model"]) for r in self.db.query(
            "select task, label, confidence, model from labels where item_id = ? order by task", [item_id]))
        topic_now = self._final_topic()(row["topic_id"]) if row["topic_id"] else None
        return ItemDetail(row["state"], row["topic_id"], topic_now, embedding, labels)

    def label_tasks(self) -> list[str]:
        """The tasks that have labelled at least one item."""
        return [r["task"] for r in self.db.query("select distinct task from labels order by task")]

    def map_items(self, limit: int, task: str | None = None) -> tuple[list[dict[str, Any]], np.ndarray]:
        """The ``limit`` most recently stored enriched items (id, title, topic after merges, label of ``task``) and
        their embeddings; items embedded with another model (a different dimension) than the newest are left out."""
        final = self._final_topic()
        rows = list(self.db.query(
            "select items.id, items.title, items.topic_id, items.embedding, labels.label from items left join labels "
            "on labels.item_id = items.id and labels.task = ? where items.state = 'done' and items.embedding is not "
            "null order by items.stored_at desc, items.rowid desc limit ?", [task, limit]))
        rows = [r for r in rows if len(r["embedding"]) == len(rows[0]["embedding"])]
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        vectors = np.stack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows])
        return [{"id": r["id"], "title": r["title"] or "", "topic_id": final(r["topic_id"]) if r["topic_id"] else None,
                 "label": r["label"]} for r in rows], vectors

    def corrections(self, task: str | None = None) -> list[dict[str, Any]]:
        where, args = ("where task = ?", [task]) if task else ("", [])
        return [dict(r) for r in self.db.query(f"select * from corrections {where} order by id", args)]

    def embeddings(self) -> tuple[list[str], np.ndarray]:
        """Ids and stored embeddings of every enriched item (for semantic search)."""
        rows = list(self.db.query("select id, embedding from items where state = 'done' and embedding is not null"))
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [r["id"] for r in rows], np.stack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows])
