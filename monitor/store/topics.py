"""The store's topics: the online topic model's saved state (loaded at start, saved with each batch), merges
followed to the topic an old id lives on in, and the topic queries of reports, digests and the taxonomy."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from models.keywords import short_name
from models.topics import Topic, TopicChanges
from monitor.store.rows import ItemRef, ItemText, item_ref, item_text_row


@dataclass(frozen=True)
class TopicRow:
    """A topic as lists and reports show it: ``representatives`` are (score, item id), most typical first;
    ``parent`` and ``children`` are set by ``monitor.service.topic_tree`` (the related topics)."""

    id: int
    size: int
    first_seen: float | None
    last_seen: float | None
    keywords: tuple[str, ...]
    name: str
    representatives: tuple[tuple[float, str], ...]
    parent: int | None = None
    children: tuple[int, ...] = ()

    @property
    def typical_id(self) -> str:
        """The id of the topic's most typical item ("" when it has none yet)."""
        return self.representatives[0][1] if self.representatives else ""


@dataclass(frozen=True)
class TopicEvent:
    """A merge, split or forgetting a topic took part in: ``topic_id`` is the topic it happened to, ``other_id``
    the one it merged into or split off (None when forgotten), ``size`` the items that moved, ``at`` when."""

    kind: str
    topic_id: int
    other_id: int | None
    size: int
    at: float


@dataclass(frozen=True)
class TopicDetail:
    """One topic (live or not) as ``lookout topic`` and ``/lookout topic`` show it: members in the last day of event
    time and before, its typical items and its history, oldest first."""

    id: int
    size: int
    alive: bool
    merged_into: int | None
    first_seen: float | None
    last_seen: float | None
    name: str
    keywords: tuple[str, ...]
    last_day: int
    before: int
    representatives: tuple[ItemRef, ...]
    history: tuple[TopicEvent, ...]


@dataclass(frozen=True)
class TopicProfile:
    """A live topic as the taxonomy reads it: size, the sum of its members' vectors, its term counts and the titles of
    its typical items, most typical first."""

    id: int
    size: int
    vector_sum: np.ndarray
    terms: Counter[str]
    examples: tuple[str, ...]


def topic_row(r: dict[str, Any]) -> TopicRow:
    return TopicRow(r["id"], r["size"], r["first_seen"], r["last_seen"], tuple(json.loads(r["keywords"] or "[]")),
                    r["name"] or "", tuple((float(x[0]), str(x[1])) for x in json.loads(r["representatives"] or "[]")))


class TopicRecords:
    """Mixed into ``Store``, whose ``db``, ``_conn`` and ``titles`` they use."""

    db: Any
    _conn: Any
    titles: Callable[[Sequence[str]], dict[str, str]]

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

    def topic(self, topic_id: int) -> TopicDetail | None:
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
        found = {r["id"]: item_ref(r) for r in self.db.query(
            f"select id, title, url, source, topic_id from items where id in ({','.join('?' * len(reps))})", reps)}
        history = tuple(TopicEvent(r["kind"], r["topic_id"], r["other_id"], r["size"], r["at"]) for r in self.db.query(
            "select kind, topic_id, other_id, size, at from topic_events where topic_id = ? or other_id = ? "
            "order by id", [topic_id, topic_id]))
        return TopicDetail(row["id"], row["size"], bool(row["alive"]), row["merged_into"], row["first_seen"],
                           row["last_seen"], row["name"] or "", tuple(json.loads(row["keywords"] or "[]")),
                           int(recent), int(older), tuple(found[r] for r in reps if r in found), history)

    def topic_summaries(self, since: float = 0.0) -> list[TopicProfile]:
        """Live topics seen since ``since``: id, size, vector sum, term counts and the titles of typical items."""
        rows = [dict(r) for r in self.db.query(
            "select id, size, vector_sum, terms, representatives from topics where alive = 1 and last_seen >= ? "
            "order by id", [since])]
        titles = self.titles([r[1] for row in rows for r in json.loads(row["representatives"])])
        return [TopicProfile(r["id"], r["size"], np.frombuffer(r["vector_sum"], dtype=np.float64),
                             Counter(json.loads(r["terms"])),
                             tuple(titles[x[1]] for x in json.loads(r["representatives"]) if titles.get(x[1])))
                for r in rows]

    def topic_samples(self, topic_ids: Sequence[int], limit: int, offset: int = 0) -> list[ItemText]:
        """Items of the given topics (fields an LLM may see), newest first, ``limit`` from ``offset``."""
        if not topic_ids:
            return []
        return [item_text_row(r) for r in self.db.query(
            "select id, title, text, author, source, url from items where state = 'done' and topic_id in "
            f"({','.join('?' * len(topic_ids))}) order by rowid desc limit ? offset ?", [*topic_ids, limit, offset])]

    def top_topics(self, limit: int = 10, min_size: int = 1) -> list[TopicRow]:
        """The largest live topics of at least ``min_size`` items, largest first."""
        return [topic_row(r) for r in self.db.query(
            "select id, size, first_seen, last_seen, keywords, name, representatives from topics "
            "where alive = 1 and size >= ? order by size desc, id limit ?", [min_size, limit])]

    def topics_by_id(self, ids: Iterable[int]) -> dict[int, TopicRow]:
        """The topics ``ids``, live or not, shaped like ``top_topics``' rows (reports on a past period name topics
        that were forgotten or merged since)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        rows = self.db.query("select id, size, first_seen, last_seen, keywords, name, representatives from topics "
                             f"where id in ({','.join('?' * len(wanted))})", wanted)
        return {r["id"]: topic_row(r) for r in rows}

    def topic_spans(self) -> dict[int, tuple[float, float]]:
        """The first and last event time of each topic's enriched items; merged topics count for the one they
        joined, so a topic is born when its oldest member happened."""
        final = self._final_topic()
        spans: dict[int, tuple[float, float]] = {}
        for r in self.db.query("select topic_id, min(event_time) as first, max(event_time) as last from items "
                               "where state = 'done' and topic_id is not null group by topic_id"):
            tid = final(r["topic_id"])
            first, last = spans.get(tid, (r["first"], r["last"]))
            spans[tid] = (min(first, r["first"]), max(last, r["last"]))
        return spans

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
