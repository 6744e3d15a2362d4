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
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sqlite_utils

from models import active
from models.keywords import short_name
from models.topics import Topic, TopicChanges
from monitor.enrich.alerts import Alert
from monitor.enrich.pipeline import BatchResult
from monitor.ingest.item import Item
from monitor.store.migrations import migrations

T = TypeVar("T")
READERS = 4  # reader threads (each with its own read-only connection) behind Store.read
def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def _dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _item(row: dict[str, Any]) -> Item:
    return Item(id=row["id"], source=row["source"], title=row["title"] or "", text=row["text"] or "",
                url=row["url"] or "", author=row["author"] or "", published=_dt(row["published"]),
                fetched=_dt(row["fetched"]) or datetime.now(UTC), raw=json.loads(row["raw"] or "{}"))


class Store:
    """All of Lookout's state in one SQLite file. Async code writes through ``call`` (one writer thread) and reads
    through ``read`` (reader threads); plain synchronous code (the CLI) uses the writer's connection directly.

    ``db`` is the calling thread's database: a reader thread's own read-only connection, else the writer's; so every
    method below runs unchanged on either path.
    """

    def __init__(self, path: str | Path, readers: int = READERS) -> None:
        self.path = str(path)
        memory = self.path == ":memory:"
        if not memory:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._writer_db = sqlite_utils.Database(sqlite3.connect(self.path, check_same_thread=False, timeout=30))
        if not memory:
            self._writer_db.enable_wal()
        self._writer_db.execute("PRAGMA synchronous=NORMAL")
        migrations.apply(self._writer_db)
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._read_lock = threading.Lock()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        # A :memory: database exists only inside its one connection, so a second connection cannot read it: there
        # reads run on the writer thread (and queue behind writes).
        self._readers = self._writer if memory else ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="store-read", initializer=self._open_reader)

    @property
    def db(self) -> sqlite_utils.Database:
        """The calling thread's database: its own read-only one on a reader thread, the writer's anywhere else."""
        return getattr(self._local, "db", self._writer_db)

    @property
    def _conn(self) -> sqlite3.Connection:
        return self.db.conn

    def _open_reader(self) -> None:
        """Give this reader thread its own read-only connection (a write through it fails)."""
        conn = sqlite3.connect(f"{Path(self.path).resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False,
                               timeout=30)
        with self._read_lock:
            self._read_conns.append(conn)
        self._local.db = sqlite_utils.Database(conn)

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
        for conn in self._read_conns:
            conn.close()
        self._writer_db.conn.close()

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
                  "text": i.text, "published": _iso(i.published), "fetched": _iso(i.fetched),
                  "raw": json.dumps(i.raw, default=str), "state": "new", "stored_at": now}
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
        return [_item(r) for r in self.db.query(
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
                "status, payload) values (?, ?, ?, ?, ?, ?, 'pending', ?)",
                [(a.rule, a.item_id, a.topic_id, a.cooldown_key, a.channel, a.created_at,
                  json.dumps(asdict(a))) for a in batch.alerts])

    def fail_items(self, errors: dict[str, str]) -> None:
        """Mark items that cannot be enriched, with the reason; they are kept, not retried forever."""
        with self._conn:
            self._conn.executemany("update items set state = 'failed', error = ?, processed_at = ? where id = ?",
                                   [(e, time.time(), i) for i, e in errors.items()])

    def _save_topics(self, changes: TopicChanges, keywords: dict[int, list[str]], now: float) -> None:
        self._conn.executemany(
            "insert or replace into topics (id, size, first_seen, last_seen, keywords, name, representatives, "
            "vector_sum, terms, half_sums, half_sizes, half_terms, terms_at, alive, merged_into, updated_at) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, null, ?)",
            [(t.id, t.size, t.first_seen, t.last_seen, json.dumps(keywords.get(t.id, [])),
              short_name(keywords.get(t.id, [])), json.dumps(t.representatives),
              t.vector_sum.astype(np.float64).tobytes(), json.dumps(t.terms),
              np.asarray(t.half_sums, dtype=np.float64).tobytes(), json.dumps(t.half_sizes),
              json.dumps(t.half_terms), t.terms_at, now)
             for t in changes.updated])
        self._conn.executemany("update topics set alive = 0, merged_into = ?, updated_at = ? where id = ?",
                               [(into, now, tid) for tid, into in changes.removed.items()])
        self._conn.executemany("insert into topic_events (kind, topic_id, other_id, size, at) values (?, ?, ?, ?, ?)",
                               [(e.kind, e.topic, e.other, e.size, e.ts) for e in changes.events])

    def load_topics(self) -> tuple[list[Topic], dict[str, int]]:
        """The live topics and the topic model's counters, as last committed."""
        def topic(r: dict[str, Any]) -> Topic:
            halves = r["half_sums"]
            return Topic(id=r["id"], vector_sum=np.frombuffer(r["vector_sum"], dtype=np.float64).copy(),
                         size=r["size"], first_seen=r["first_seen"], last_seen=r["last_seen"],
                         terms=Counter(json.loads(r["terms"])),
                         representatives=[tuple(x) for x in json.loads(r["representatives"])],
                         half_sums=np.frombuffer(halves, dtype=np.float64).reshape(2, -1).copy() if halves else None,
                         half_sizes=json.loads(r["half_sizes"] or "[0, 0]"),
                         half_terms=[Counter(h) for h in json.loads(r["half_terms"] or "[{}, {}]")],
                         terms_at=r["terms_at"] if r["terms_at"] is not None else r["last_seen"])

        topics = [topic(r) for r in self.db.query("select * from topics where alive = 1 order by id")]
        meta = {r["key"].removeprefix("topics."): json.loads(r["value"])
                for r in self.db.query("select * from meta where key like 'topics.%'")}
        return topics, meta

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
        """When each (rule, cooldown key) last fired, for alerts created after ``since``."""
        return {(r["rule"], r["cooldown_key"]): r["at"] for r in self.db.query(
            "select rule, cooldown_key, max(created_at) as at from alerts where created_at >= ? "
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

    def topic_times(self, since: float) -> dict[int, list[float]]:
        """Arrival times of the items of each topic since ``since``; merged topics count for the one they joined."""
        final = self._final_topic()
        times: dict[int, list[float]] = {}
        for r in self.db.query("select topic_id, stored_at from items where state = 'done' and stored_at >= ?",
                               [since]):
            times.setdefault(final(r["topic_id"]), []).append(r["stored_at"])
        return times

    def label_times(self, since: float) -> dict[tuple[str, str], list[float]]:
        """Arrival times of the items of each (task, label) since ``since``."""
        times: dict[tuple[str, str], list[float]] = {}
        for r in self.db.query("select labels.task, labels.label, items.stored_at from labels join items on "
                               "items.id = labels.item_id where items.stored_at >= ?", [since]):
            times.setdefault((r["task"], r["label"]), []).append(r["stored_at"])
        return times

    def label_counts(self, since: float, until: float) -> dict[tuple[str, str], int]:
        """How many items that arrived in ``[since, until)`` have each (task, label)."""
        return {(r["task"], r["label"]): r["n"] for r in self.db.query(
            "select labels.task, labels.label, count(*) as n from labels join items on items.id = labels.item_id "
            "where items.stored_at >= ? and items.stored_at < ? group by labels.task, labels.label", [since, until])}

    def item_count(self, since: float, until: float) -> int:
        return self.db.execute("select count(*) from items where stored_at >= ? and stored_at < ?",
                               [since, until]).fetchone()[0]

    def recent_alerts(self, limit: int = 5) -> list[dict[str, Any]]:
        return [{**json.loads(r["payload"]), "status": r["status"]} for r in self.db.query(
            "select payload, status from alerts order by id desc limit ?", [limit])]

    def mute(self, topic_id: int, user: str) -> None:
        with self._conn:
            self._conn.execute("insert or replace into mutes (topic_id, user, created_at) values (?, ?, ?)",
                               [topic_id, user, time.time()])

    def muted(self) -> set[int]:
        """The muted topics, each followed through merges to the topic it lives on in now."""
        final = self._final_topic()
        return {final(r["topic_id"]) for r in self.db.query("select topic_id from mutes")}

    def topic(self, topic_id: int) -> dict[str, Any] | None:
        """One topic (live or merged away) with its member counts for the last day and before, and its history:
        the merges, splits and forgetting it took part in, oldest first."""
        rows = list(self.db.query("select * from topics where id = ?", [topic_id]))
        if not rows:
            return None
        day_ago = time.time() - 86400
        recent, older = self.db.execute(
            "select coalesce(sum(stored_at >= ?), 0), coalesce(sum(stored_at < ?), 0) from items where topic_id = ?",
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
        return ([r["id"] for r in rows], [_item(r).content for r in rows],
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

    def item_detail(self, item_id: str) -> dict[str, Any]:
        """An item's state, topic (``topic_now``: the one it lives on in after merges) and stored embedding (None
        until enriched), and its labels with their confidence and the model that gave them."""
        row = next(self.db.query("select state, topic_id, embedding from items where id = ?", [item_id]))
        embedding = np.frombuffer(row["embedding"], dtype=np.float32) if row["embedding"] else None
        labels = [dict(r) for r in self.db.query(
            "select task, label, confidence, model from labels where item_id = ? order by task", [item_id])]
        topic_now = self._final_topic()(row["topic_id"]) if row["topic_id"] else None
        return {"state": row["state"], "topic_id": row["topic_id"], "topic_now": topic_now, "embedding": embedding,
                "labels": labels}

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

    # the learning loop --------------------------------------------------------------------------------------------
    def import_examples(self, task: str, rows: Iterable[tuple[str, str, str]], source: str) -> int:
        """Store labelled ``(text, label, split)`` rows for ``task``; returns how many."""
        now = time.time()
        with self._conn:
            cur = self._conn.executemany(
                "insert into training_examples (task, text, label, split, source, created_at) "
                "values (?, ?, ?, ?, ?, ?)",
                [(task, text, label, split, source, now) for text, label, split in rows])
        return cur.rowcount

    def import_auto_labels(self, task: str, rows: Iterable[tuple[str, str, str]], source: str) -> int:
        """Store automatic ``(item_id, text, label)`` labels of stored items as training examples of ``task``."""
        now = time.time()
        with self._conn:
            cur = self._conn.executemany(
                "insert into training_examples (task, item_id, text, label, split, source, created_at) "
                "values (?, ?, ?, ?, '', ?, ?)", [(task, i, text, label, source, now) for i, text, label in rows])
        return cur.rowcount

    def auto_label_agreement(self, task: str) -> tuple[int, int]:
        """(agreeing, compared): the team's latest correction of each item against its automatic label."""
        row = self.db.execute(
            "select coalesce(sum(c.new_label = e.label), 0), count(*) from training_examples e join corrections c "
            "on c.item_id = e.item_id and c.task = e.task where e.task = ? and e.item_id is not null and c.id = "
            "(select max(id) from corrections where item_id = e.item_id and task = e.task)", [task]).fetchone()
        return int(row[0]), int(row[1])

    def examples(self, task: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self.db.query("select text, label, split, source from training_examples "
                                               "where task = ? order by id", [task])]

    def corrected_items(self, task: str) -> list[dict[str, Any]]:
        """Every correction of ``task`` with the text the models read, oldest first."""
        rows = self.db.query(
            "select corrections.id as correction_id, corrections.new_label, corrections.created_at as corrected_at, "
            "items.* from corrections join items on items.id = corrections.item_id where corrections.task = ? "
            "order by corrections.id", [task])
        return [{"item_id": r["id"], "label": r["new_label"], "created_at": r["corrected_at"],
                 "text": _item(r).content} for r in rows]

    def confident_labels(self, task: str, model: str, min_confidence: float, limit: int) -> list[dict[str, Any]]:
        """Items ``model`` labelled with at least ``min_confidence`` (pseudo-labels), newest first."""
        rows = self.db.query(
            "select labels.label, items.* from labels join items on items.id = labels.item_id where labels.task = ? "
            "and labels.model = ? and labels.confidence >= ? order by items.rowid desc limit ?",
            [task, model, min_confidence, limit])
        return [{"label": r["label"], "text": _item(r).content} for r in rows]

    def count_corrections_since(self, task: str, since: float) -> int:
        return self.db.execute("select count(*) from corrections where task = ? and created_at > ?",
                               [task, since]).fetchone()[0]

    def request_run(self, task: str, via: str, user: str = "", channel: str = "", thread: str = "",
                    start: bool = False) -> tuple[int, bool]:
        """Ask for a training run of ``task`` (``start``: taken at once by the caller); returns ``(run id, True)``
        or, when one is already waiting or running, ``(its id, False)``."""
        with self._conn:
            open_run = self._conn.execute("select id from training_runs where task = ? and status in "
                                          "('requested', 'running')", [task]).fetchone()
            if open_run:
                return open_run[0], False
            cur = self._conn.execute(
                "insert into training_runs (task, status, via, requested_by, channel, thread, notes, notes_sent, "
                "created_at) values (?, ?, ?, ?, ?, ?, '[]', 0, ?)",
                [task, "running" if start else "requested", via, user, channel, thread, time.time()])
        return int(cur.lastrowid or 0), True

    def claim_run(self) -> dict[str, Any] | None:
        """The oldest requested run, now marked running."""
        with self._conn:
            row = self._conn.execute("select id from training_runs where status = 'requested' order by id limit 1"
                                     ).fetchone()
            if row is None:
                return None
            self._conn.execute("update training_runs set status = 'running', started_at = ? where id = ?",
                               [time.time(), row[0]])
        return self.run(row[0])

    def start_run(self, run_id: int, version: int, pid: int) -> None:
        with self._conn:
            self._conn.execute("update training_runs set status = 'running', version = ?, pid = ?, "
                               "started_at = coalesce(started_at, ?) where id = ?", [version, pid, time.time(), run_id])

    def run(self, run_id: int) -> dict[str, Any] | None:
        rows = list(self.db.query("select * from training_runs where id = ?", [run_id]))
        return {**rows[0], "notes": json.loads(rows[0]["notes"] or "[]"),
                "progress": json.loads(rows[0]["progress"] or "{}")} if rows else None

    def runs(self, task: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        where, args = ("where task = ?", [task]) if task else ("", [])
        return [{**r, "progress": json.loads(r["progress"] or "{}")} for r in self.db.query(
            f"select * from training_runs {where} order by id desc limit ?", [*args, limit])]

    def run_progress(self, run_id: int, progress: dict[str, Any], note: str = "") -> None:
        """Record how far a run is; ``note`` is a line for the people following it (a Slack thread)."""
        with self._conn:
            if note:
                self._conn.execute("update training_runs set notes = json_insert(notes, '$[#]', ?) where id = ?",
                                   [note, run_id])
            self._conn.execute("update training_runs set progress = ? where id = ?", [json.dumps(progress), run_id])

    def finish_run(self, run_id: int, status: str, message: str) -> None:
        with self._conn:
            self._conn.execute("update training_runs set status = ?, message = ?, finished_at = ?, "
                               "notes = json_insert(notes, '$[#]', ?) where id = ?",
                               [status, message, time.time(), message, run_id])

    def requeue_interrupted_runs(self) -> int:
        """Runs that were training when Lookout stopped wait again; they resume from their last checkpoint."""
        with self._conn:
            return self._conn.execute("update training_runs set status = 'requested' where status = 'running'"
                                      ).rowcount

    def unsent_notes(self) -> list[dict[str, Any]]:
        """Runs with lines not yet relayed to the people following them."""
        return [{**r, "notes": json.loads(r["notes"] or "[]")} for r in self.db.query(
            "select id, task, channel, thread, notes, notes_sent from training_runs "
            "where json_array_length(notes) > notes_sent")]

    def notes_sent(self, run_id: int, sent: int, channel: str, thread: str) -> None:
        with self._conn:
            self._conn.execute("update training_runs set notes_sent = ?, channel = ?, thread = ? where id = ?",
                               [sent, channel, thread, run_id])

    def last_run_at(self, task: str) -> float:
        """When the last training run of ``task`` was asked for (0 when never)."""
        return self.db.execute("select coalesce(max(created_at), 0) from training_runs where task = ?",
                               [task]).fetchone()[0]

    def add_version(self, task: str, version: int, path: str, status: str, metrics: dict[str, Any], reason: str,
                    run_id: int | None, int8: bool) -> None:
        with self._conn:
            self._conn.execute(
                "insert or replace into model_versions (task, version, path, status, int8, metrics, reason, run_id, "
                "created_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [task, version, path, status, int(int8), json.dumps(metrics), reason, run_id, time.time()])

    def versions(self, task: str | None = None) -> list[dict[str, Any]]:
        where, args = ("where task = ?", [task]) if task else ("", [])
        return [{**r, "metrics": json.loads(r["metrics"] or "{}")} for r in self.db.query(
            f"select * from model_versions {where} order by task, version", args)]

    def serving(self) -> dict[str, dict[str, Any]]:
        """The version in service for each task that has one (other tasks are served zero-shot)."""
        return {r["task"]: {**r, "metrics": json.loads(r["metrics"] or "{}")} for r in self.db.query(
            "select * from model_versions where status = 'serving'")}

    def promote(self, task: str, version: int, reason: str) -> None:
        """Put ``version`` in service; the version serving before it is retired."""
        now = time.time()
        with self._conn:
            self._conn.execute("update model_versions set status = 'retired' where task = ? and status = 'serving'",
                               [task])
            self._conn.execute("update model_versions set status = 'serving', promoted_at = ?, reason = ? "
                               "where task = ? and version = ?", [now, reason, task, version])

    def set_version_status(self, task: str, version: int, status: str, reason: str) -> None:
        with self._conn:
            self._conn.execute("update model_versions set status = ?, reason = ? where task = ? and version = ?",
                               [status, reason, task, version])

    def least_sure(self, task: str, since: float, limit: int, strategy: str = "spread") -> list[dict[str, Any]]:
        """Up to ``limit`` items labelled by a model since ``since``, never asked about and never corrected, chosen by
        ``models.active.select`` with ``strategy`` from the margin between their top two labels and their topic
        (merges followed)."""
        rows = [r for r in self.db.query(
            "select items.*, labels.label, labels.scores from labels join items on items.id = labels.item_id "
            "where labels.task = ? and labels.model != 'human' and items.stored_at >= ? and not exists "
            "(select 1 from questions q where q.item_id = labels.item_id and q.task = labels.task) "
            "order by items.rowid", [task, since])]
        scored = [(top[0] - top[1], r) for r in rows
                  if len(top := sorted(json.loads(r["scores"] or "{}").values(), reverse=True)) >= 2]
        final = self._final_topic()
        picked = active.select([m for m, _ in scored], [final(r["topic_id"] or 0) for _, r in scored], limit,
                               strategy)
        return [{"item_id": r["id"], "title": r["title"] or "", "text": _item(r).content, "url": r["url"] or "",
                 "label": r["label"], "margin": round(margin, 4), "topic_id": final(r["topic_id"] or 0)}
                for margin, r in (scored[i] for i in picked)]

    def record_questions(self, task: str, asked: Sequence[dict[str, Any]]) -> None:
        with self._conn:
            self._conn.executemany("insert or ignore into questions (item_id, task, label, margin, asked_at) "
                                   "values (?, ?, ?, ?, ?)",
                                   [(q["item_id"], task, q["label"], q["margin"], time.time()) for q in asked])

    # hyper-parameter searches -------------------------------------------------------------------------------------
    def add_search(self, task: str, metric: str, trials: int, data: dict[str, int]) -> int:
        with self._conn:
            cur = self._conn.execute("insert into searches (task, metric, n_trials, status, data, created_at) "
                                     "values (?, ?, ?, 'running', ?, ?)",
                                     [task, metric, trials, json.dumps(data), time.time()])
        return int(cur.lastrowid or 0)

    def add_trial(self, search_id: int, number: int, params: dict[str, Any], score: float | None, state: str,
                  seconds: float) -> None:
        with self._conn:
            self._conn.execute("insert or replace into search_trials (search_id, number, params, score, state, "
                               "seconds) values (?, ?, ?, ?, ?, ?)",
                               [search_id, number, json.dumps(params), score, state, seconds])

    def finish_search(self, search_id: int, status: str, message: str, best_trial: int | None = None,
                      best_params: dict[str, Any] | None = None, best_score: float | None = None) -> None:
        with self._conn:
            self._conn.execute("update searches set status = ?, message = ?, best_trial = ?, best_params = ?, "
                               "best_score = ?, finished_at = ? where id = ?",
                               [status, message, best_trial, json.dumps(best_params) if best_params else None,
                                best_score, time.time(), search_id])

    def search(self, search_id: int) -> dict[str, Any] | None:
        """A hyper-parameter search with its best parameters and every trial, in order."""
        rows = list(self.db.query("select * from searches where id = ?", [search_id]))
        if not rows:
            return None
        trials = [{**r, "params": json.loads(r["params"])} for r in self.db.query(
            "select number, params, score, state, seconds from search_trials where search_id = ? order by number",
            [search_id])]
        return {**rows[0], "data": json.loads(rows[0]["data"] or "{}"),
                "best_params": json.loads(rows[0]["best_params"] or "null"), "trials": trials}

    # reports ------------------------------------------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        """Counts and source health for ``lookout status``."""
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
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

    def links(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Each item's title and URL ('' when it has none)."""
        if not ids:
            return {}
        return {r["id"]: (r["title"] or "", r["url"] or "") for r in self.db.query(
            f"select id, title, url from items where id in ({','.join('?' * len(ids))})", list(ids))}

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        return {item: title for item, (title, _) in self.links(ids).items()}

    def items_with_label(self, task: str | None, label: str | None, limit: int = 20) -> list[dict[str, Any]]:
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
        return [dict(r) for r in self.db.query(sql, [*args, limit])]

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
