"""The durable store: SQLite through sqlite-utils, WAL, schema migrations (``migrations``), one writer thread,
reader threads.

An item is written (deduplicated by id) before any work is done on it and stays ``new`` until the batch that
enriched it commits, together with its labels, topic changes and alerts, in one transaction. A restart therefore
picks up exactly the items that were not finished, and never records an alert twice.

Async code writes through ``Store.call`` (the one writer thread and its connection) and reads through
``Store.read`` (a few reader threads, each with its own read-only connection, as datasette does): in WAL mode a
reader sees the last commit and never waits for the writer, so a long batch commit does not hold up a search.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sqlite_utils

from models.keywords import short_name
from models.topics import Topic, TopicChanges
from monitor.enrich.alerts import Alert
from monitor.enrich.pipeline import BatchResult
from monitor.ingest.item import Item
from monitor.store.learning import LearningRecords
from monitor.store.migrations import migrations
from monitor.store.mutes import MuteRecords
from monitor.store.reports import ReportQueries
from monitor.store.rows import iso_time, row_item
from monitor.store.subscriptions import SubscriptionRecords
from monitor.store.taxonomy import TaxonomyRecords
from monitor.store.threads import ThreadRecords
from monitor.store.timeline import Timeline

T = TypeVar("T")
READERS = 4  # reader threads (each with its own read-only connection) behind Store.read


class Store(TaxonomyRecords, LearningRecords, ReportQueries, MuteRecords, SubscriptionRecords, ThreadRecords,
            Timeline):
    """All of Lookout's state in one SQLite file. Async code writes through ``call`` (one writer thread) and reads
    through ``read`` (reader threads); plain synchronous code (the CLI, a test looking at a running daemon) calls the
    methods directly.

    ``db`` is the calling thread's own database connection (read-only on a reader thread), so every method below runs
    unchanged on any thread, and a direct call never shares a connection, or a transaction, with the writer thread:
    SQLite's locks order it with the writer's commits.
    """

    def __init__(self, path: str | Path, readers: int = READERS) -> None:
        self.path = str(path)
        memory = self.path == ":memory:"
        if not memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._memory = memory
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._writer_db = self._connect()
        if not memory:
            self._writer_db.enable_wal()
        migrations.apply(self._writer_db)
        self._local = threading.local()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store", initializer=self._adopt_writer)
        # A :memory: database exists only inside its one connection, so a second connection cannot read it: there
        # reads run on the writer thread (and queue behind writes).
        self._readers = self._writer if memory else ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="store-read", initializer=self._open_reader)

    @property
    def db(self) -> sqlite_utils.Database:
        """The calling thread's database: the writer's on the writer thread, a read-only one on a reader thread, and
        a connection of its own (opened on first use) on any other thread. A ``:memory:`` database exists only in its
        one connection, so there every thread shares the writer's."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._writer_db if self._memory else self._connect()
        return db

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.db.conn

    def _connect(self, read_only: bool = False) -> sqlite_utils.Database:
        """Open (and remember, for ``close``) one more connection to the file; a write through a read-only one
        fails."""
        if read_only:
            conn = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro", uri=True,
                                   check_same_thread=False, timeout=30)
        else:
            conn = sqlite3.connect(self.path, check_same_thread=False, timeout=30)
            conn.execute("PRAGMA synchronous=NORMAL")
        with self._conns_lock:
            self._conns.append(conn)
        return sqlite_utils.Database(conn)

    def _adopt_writer(self) -> None:
        self._local.db = self._writer_db

    def _open_reader(self) -> None:
        self._local.db = self._connect(read_only=True)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the store's single writer thread."""
        return await asyncio.get_running_loop().run_in_executor(self._writer, lambda: fn(*args))

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run the read-only ``fn(*args)`` on a reader thread: it sees the last commit without waiting for the
        writer, and may take its time (drawing a chart) without holding writes up. ``fn`` must not write (its
        connection refuses). In a ``:memory:`` store this runs on the writer thread instead."""
        return await asyncio.get_running_loop().run_in_executor(self._readers, lambda: fn(*args))

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        for conn in self._conns:
            conn.close()

    def __enter__(self) -> Store:
        """Use the store in a ``with`` block that closes it at the end."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store; an exception raised in the block propagates."""
        self.close()

    # sources ------------------------------------------------------------------------------------------------------
    def source_position(self, name: str) -> dict[str, Any]:
        rows = list(self.db.query("select position from sources where name = ?", [name]))
        return json.loads(rows[0]["position"] or "{}") if rows else {}

    def add_items(self, source: str, kind: str, items: Sequence[Item],
                  position: dict[str, Any] | None = None) -> list[str]:
        """Store new items (duplicates ignored) and the source's position in one transaction; return new ids."""
        now = time.time()
        with self._conn:
            ids = [i.id for i in items]
            known = {r["id"] for r in self.db.query(
                f"select id from items where id in ({','.join('?' * len(ids))})", ids)} if ids else set()
            fresh: dict[str, Item] = {}
            for item in items:
                if item.id not in known:
                    fresh.setdefault(item.id, item)
            self.db["items"].insert_all(
                ({"id": i.id, "source": i.source, "url": i.url, "author": i.author, "title": i.title,
                  "text": i.text, "published": iso_time(i.published), "fetched": iso_time(i.fetched),
                  "raw": json.dumps(i.raw, default=str), "state": "new", "stored_at": now,
                  "event_time": i.event_time}
                 for i in fresh.values()), ignore=True)
            self._touch_source(source, kind, now, position, len(fresh))
        return list(fresh)

    def _touch_source(self, name: str, kind: str, now: float, position: dict[str, Any] | None, new: int) -> None:
        self._conn.execute(
            "insert into sources (name, kind, position, last_success, failures, items_total, last_error) "
            "values (?, ?, ?, ?, 0, ?, '') on conflict(name) do update set kind = excluded.kind, "
            "position = coalesce(excluded.position, position), last_success = excluded.last_success, "
            "failures = 0, last_error = '', items_total = coalesce(items_total, 0) + excluded.items_total",
            [name, kind, json.dumps(position) if position is not None else None, now, new])

    def source_failed(self, name: str, kind: str, error: str) -> None:
        self._conn.execute(
            "insert into sources (name, kind, failures, last_error, last_error_at, items_total) "
            "values (?, ?, 1, ?, ?, 0) on conflict(name) do update set failures = failures + 1, "
            "last_error = excluded.last_error, last_error_at = excluded.last_error_at", [name, kind, error,
                                                                                         time.time()])
        self._conn.commit()

    # the pipeline -------------------------------------------------------------------------------------------------
    def pending_items(self, limit: int) -> list[Item]:
        """The oldest items not yet enriched, in arrival order."""
        return [row_item(r) for r in self.db.query(
            "select * from items where state = 'new' order by rowid limit ?", [limit])]

    def complete(self, batch: BatchResult) -> None:
        """Commit one enriched batch: item state, embeddings, labels, topics and new alerts, atomically."""
        now = time.time()
        with self._conn:
            self._conn.executemany(
                "update items set state = 'done', processed_at = ?, topic_id = ?, embedding = ? where id = ?",
                [(now, r.topic_id, r.embedding.astype(np.float32).tobytes(), r.item.id) for r in batch.results])
            self._conn.executemany(
                "insert or replace into labels (item_id, task, label, confidence, unsure, model, scores) "
                "values (?, ?, ?, ?, ?, ?, ?)",
                [(r.item.id, p.task, p.label, p.confidence, int(p.unsure), p.model, json.dumps(p.scores))
                 for r in batch.results for p in r.predictions])
            self._save_topics(batch.changes, batch.keywords, now)
            self._conn.executemany("insert or replace into meta (key, value) values (?, ?)",
                                   [(f"topics.{k}", json.dumps(v)) for k, v in batch.topic_meta.items()])
            self._conn.executemany(
                "insert or ignore into alerts (rule, item_id, topic_id, cooldown_key, channel, created_at, "
                "event_time, status, payload) values (?, ?, ?, ?, ?, ?, ?, 'pending', ?)",
                [(a.rule, a.item_id, a.topic_id, a.cooldown_key, a.channel, a.created_at, a.event_time,
                  json.dumps(asdict(a))) for a in batch.alerts])

    def fail_items(self, errors: dict[str, str]) -> None:
        """Mark items that cannot be enriched, with the reason; they are kept, not retried forever."""
        with self._conn:
            self._conn.executemany("update items set state = 'failed', error = ?, processed_at = ? where id = ?",
                                   [(e, time.time(), i) for i, e in errors.items()])

    def _save_topics(self, changes: TopicChanges, keywords: dict[int, list[str]], now: float) -> None:
        self._conn.executemany(
            "insert or replace into topics (id, size, first_seen, last_seen, keywords, name, representatives, "
            "vector_sum, terms, half_sums, half_sizes, half_terms, terms_at, candidates, rep_vectors, alive, "
            "merged_into, updated_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, null, ?)",
            [(t.id, t.size, t.first_seen, t.last_seen, json.dumps(keywords.get(t.id, [])),
              short_name(keywords.get(t.id, []), counts=t.terms, items=t.size), json.dumps(t.representatives),
              t.vector_sum.astype(np.float64).tobytes(), json.dumps(t.terms),
              np.asarray(t.half_sums, dtype=np.float64).tobytes(), json.dumps(t.half_sizes),
              json.dumps(t.half_terms), t.terms_at, json.dumps(t.candidates),
              np.asarray(t.rep_vectors, dtype=np.float32).tobytes(), now)
             for t in changes.updated])
        self._conn.executemany("update topics set alive = 0, merged_into = ?, updated_at = ? where id = ?",
                               [(into, now, tid) for tid, into in changes.removed.items()])
        self._conn.executemany("insert into topic_events (kind, topic_id, other_id, size, at) values (?, ?, ?, ?, ?)",
                               [(e.kind, e.topic, e.other, e.size, e.ts) for e in changes.events])

    def load_topics(self) -> tuple[list[Topic], dict[str, int]]:
        """The live topics and the topic model's counters, as last committed."""
        def topic(r: dict[str, Any]) -> Topic:
            halves = r["half_sums"]
            reps = [tuple(x) for x in json.loads(r["representatives"])]
            pool = [tuple(x) for x in json.loads(r["candidates"])] if r["candidates"] else reps
            return Topic(id=r["id"], vector_sum=np.frombuffer(r["vector_sum"], dtype=np.float64).copy(),
                         size=r["size"], first_seen=r["first_seen"], last_seen=r["last_seen"],
                         terms=Counter(json.loads(r["terms"])),
                         representatives=reps, candidates=pool, rep_vectors=self._rep_vectors(r["rep_vectors"], pool),
                         half_sums=np.frombuffer(halves, dtype=np.float64).reshape(2, -1).copy() if halves else None,
                         half_sizes=json.loads(r["half_sizes"] or "[0, 0]"),
                         half_terms=[Counter(h) for h in json.loads(r["half_terms"] or "[{}, {}]")],
                         terms_at=r["terms_at"] if r["terms_at"] is not None else r["last_seen"])

        topics = [topic(r) for r in self.db.query("select * from topics where alive = 1 order by id")]
        meta = {r["key"].removeprefix("topics."): json.loads(r["value"])
                for r in self.db.query("select * from meta where key like 'topics.%'")}
        return topics, meta

    def _rep_vectors(self, saved: bytes | None, reps: list[tuple[Any, ...]]) -> np.ndarray | None:
        """A topic's saved candidate vectors; for a topic saved before they were (None), its representatives' stored
        item embeddings, or None when one is missing (the topic then starts its representatives over)."""
        if not reps:
            return None
        if saved is not None:
            return np.frombuffer(saved, dtype=np.float32).reshape(len(reps), -1).copy()
        found = {r["id"]: r["embedding"] for r in self.db.query(
            f"select id, embedding from items where id in ({','.join('?' * len(reps))})", [r[1] for r in reps])}
        if any(found.get(r[1]) is None for r in reps):
            return None
        return np.stack([np.frombuffer(found[r[1]], dtype=np.float32) for r in reps])

    # alerts -------------------------------------------------------------------------------------------------------
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

    def unknown_alerts(self) -> list[dict[str, Any]]:
        """Alerts that may or may not have reached Slack (Lookout stopped while sending them, or Slack did not answer
        a send), oldest first: rule, channel, created_at, title, item_id."""
        return [{k: a[k] for k in ("rule", "channel", "created_at", "title", "item_id")} for a in (
            json.loads(r["payload"]) for r in self.db.query(
                "select payload from alerts where status = 'unknown' order by id"))]

    def cooldowns(self, since: float) -> dict[tuple[str, str], float]:
        """When (in event time) each (rule, cooldown key) last fired, for alerts on items of ``since`` or later."""
        return {(r["rule"], r["cooldown_key"]): r["at"] for r in self.db.query(
            "select rule, cooldown_key, max(event_time) as at from alerts where event_time >= ? "
            "group by rule, cooldown_key", [since])}

    # corrections --------------------------------------------------------------------------------------------------
    def find_items(self, prefix: str, limit: int = 2) -> list[dict[str, Any]]:
        """Items whose id starts with ``prefix`` (ids are shown shortened)."""
        return [dict(r) for r in self.db.query("select id, title, url, source, topic_id from items where id like ? "
                                               "order by id limit ?", [prefix + "%", limit])]

    def labels_of(self, item_id: str) -> dict[str, str]:
        return {r["task"]: r["label"] for r in self.db.query(
            "select task, label from labels where item_id = ?", [item_id])}

    def correct(self, item_id: str, task: str, label: str, user: str, via: str) -> str:
        """Record that ``user`` says ``item_id`` is ``label`` in ``task``; the label in service changes with it.
        Returns the label it had."""
        old = self.labels_of(item_id).get(task, "")
        with self._conn:
            self._conn.execute("insert into corrections (item_id, task, old_label, new_label, user, via, created_at) "
                               "values (?, ?, ?, ?, ?, ?, ?)", [item_id, task, old, label, user, via, time.time()])
            self._conn.execute("insert into labels (item_id, task, label, confidence, unsure, model, scores) "
                               "values (?, ?, ?, 1.0, 0, 'human', '{}') on conflict(item_id, task) do update set "
                               "label = excluded.label, confidence = 1.0, unsure = 0, model = 'human'",
                               [item_id, task, label])
        return old

    def watches(self) -> list[dict[str, Any]]:
        """Feeds and keyword rules added at run time (from Slack or the CLI), oldest first."""
        return [dict(r) for r in self.db.query("select * from watches order by created_at")]

    def add_watch(self, name: str, kind: str, target: str, user: str) -> None:
        with self._conn:
            self._conn.execute("insert into watches (name, kind, target, created_by, created_at) "
                               "values (?, ?, ?, ?, ?)", [name, kind, target, user, time.time()])

    def remove_watch(self, name: str) -> bool:
        with self._conn:
            return self._conn.execute("delete from watches where name = ?", [name]).rowcount > 0

    def _final_topic(self) -> Callable[[int], int]:
        """A function from a topic id to the topic it now lives on in (following merges)."""
        merged = {r["id"]: r["merged_into"] for r in self.db.query(
            "select id, merged_into from topics where merged_into is not null")}

        def final(tid: int) -> int:
            seen: set[int] = set()
            while tid in merged and tid not in seen:
                seen.add(tid)
                tid = merged[tid]
            return tid

        return final

    def recent_alerts(self, limit: int = 5) -> list[dict[str, Any]]:
        return [{**json.loads(r["payload"]), "status": r["status"]} for r in self.db.query(
            "select payload, status from alerts order by id desc limit ?", [limit])]

    def topic(self, topic_id: int) -> dict[str, Any] | None:
        """One topic (live or merged away) with its member counts for the last day (by event time) and before, and
        its history: the merges, splits and forgetting it took part in, oldest first."""
        rows = list(self.db.query("select * from topics where id = ?", [topic_id]))
        if not rows:
            return None
        day_ago = time.time() - 86400
        recent, older = self.db.execute(
            "select coalesce(sum(event_time >= ?), 0), coalesce(sum(event_time < ?), 0) from items where topic_id = ?",
            [day_ago, day_ago, topic_id]).fetchone()
        row = rows[0]
        reps = [r[1] for r in json.loads(row["representatives"])]
        found = {r["id"]: dict(r) for r in self.db.query(
            f"select id, title, url, source from items where id in ({','.join('?' * len(reps))})", reps)}
        return {"id": row["id"], "size": row["size"], "alive": bool(row["alive"]), "merged_into": row["merged_into"],
                "first_seen": row["first_seen"], "last_seen": row["last_seen"], "name": row["name"] or "",
                "keywords": json.loads(row["keywords"] or "[]"), "last_day": recent, "before": older,
                "representatives": [found[r] for r in reps if r in found],
                "history": [dict(r) for r in self.db.query(
                    "select kind, topic_id, other_id, size, at from topic_events where topic_id = ? or other_id = ? "
                    "order by id", [topic_id, topic_id])]}

    def topic_summaries(self, since: float = 0.0) -> list[dict[str, Any]]:
        """Live topics seen since ``since``: id, size, vector sum, term counts and the titles of typical items."""
        rows = [dict(r) for r in self.db.query(
            "select id, size, vector_sum, terms, representatives from topics where alive = 1 and last_seen >= ? "
            "order by id", [since])]
        titles = self.titles([r[1] for row in rows for r in json.loads(row["representatives"])])
        return [{"id": r["id"], "size": r["size"], "vector_sum": np.frombuffer(r["vector_sum"], dtype=np.float64),
                 "terms": Counter(json.loads(r["terms"])),
                 "examples": [titles[x[1]] for x in json.loads(r["representatives"]) if titles.get(x[1])]}
                for r in rows]

    def items_for_labelling(self, limit: int) -> tuple[list[str], list[str], np.ndarray]:
        """Ids, texts (what the models read) and embeddings of the newest ``limit`` enriched items."""
        rows = list(self.db.query("select * from items where state = 'done' and embedding is not null "
                                  "order by rowid desc limit ?", [limit]))
        if not rows:
            return [], [], np.zeros((0, 0), dtype=np.float32)
        return ([r["id"] for r in rows], [row_item(r).content for r in rows],
                np.stack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows]))

    def topic_samples(self, topic_ids: Sequence[int], limit: int, offset: int = 0) -> list[dict[str, Any]]:
        """Items of the given topics (fields an LLM may see), newest first, ``limit`` from ``offset``."""
        if not topic_ids:
            return []
        return [dict(r) for r in self.db.query(
            "select id, title, text, author, source, url from items where state = 'done' and topic_id in "
            f"({','.join('?' * len(topic_ids))}) order by rowid desc limit ? offset ?", [*topic_ids, limit, offset])]

    def item_rows(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Stored items by id, in the order given (fields an LLM may see)."""
        found = {r["id"]: dict(r) for r in self.db.query(
            f"select id, title, text, author, source, url from items where id in ({','.join('?' * len(ids))})",
            list(ids))} if ids else {}
        return [found[i] for i in ids if i in found]

