"""The schema of the store, as sqlite-utils migrations applied in order when a store opens (one function per
change)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlite_utils
from sqlite_utils.migrations import Migrations

from monitor.ingest.item import event_time

migrations = Migrations("lookout")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.table("items").create({"id": str, "source": str, "url": str, "author": str, "title": str, "text": str,
                        "published": str, "fetched": str, "raw": str, "state": str, "error": str,
                        "stored_at": float, "processed_at": float, "topic_id": int, "embedding": bytes},
                       pk="id")
    db.table("items").create_index(["state"])
    db.table("items").create_index(["source"])
    db.table("items").create_index(["topic_id"])
    db.table("labels").create({"item_id": str, "task": str, "label": str, "confidence": float, "unsure": int,
                         "model": str, "scores": str}, pk=("item_id", "task"))
    db.table("labels").create_index(["task", "label"])
    db.table("topics").create({"id": int, "size": int, "first_seen": float, "last_seen": float, "keywords": str,
                         "representatives": str, "vector_sum": bytes, "terms": str, "alive": int,
                         "merged_into": int, "updated_at": float}, pk="id")
    db.table("alerts").create({"id": int, "rule": str, "item_id": str, "topic_id": int, "cooldown_key": str,
                         "channel": str, "created_at": float, "status": str, "error": str, "sent_at": float,
                         "payload": str}, pk="id")
    db.table("alerts").create_index(["rule", "item_id"], unique=True)
    db.table("alerts").create_index(["status"])
    db.table("sources").create({"name": str, "kind": str, "position": str, "last_success": float, "last_error": str,
                          "last_error_at": float, "failures": int, "items_total": int}, pk="name")
    db.table("meta").create({"key": str, "value": str}, pk="key")


@migrations()
def m002_corrections(db: sqlite_utils.Database) -> None:
    db.table("corrections").create({"id": int, "item_id": str, "task": str, "old_label": str, "new_label": str,
                              "user": str, "via": str, "created_at": float}, pk="id")
    db.table("corrections").create_index(["task", "created_at"])


@migrations()
def m003_mutes(db: sqlite_utils.Database) -> None:
    db.table("mutes").create({"topic_id": int, "user": str, "created_at": float}, pk="topic_id")


@migrations()
def m004_watches(db: sqlite_utils.Database) -> None:
    db.table("watches").create({"name": str, "kind": str, "target": str, "created_by": str, "created_at": float},
                         pk="name")


@migrations()
def m005_learning(db: sqlite_utils.Database) -> None:
    db.table("training_examples").create({"id": int, "task": str, "text": str, "label": str, "split": str,
                                          "source": str, "created_at": float}, pk="id")
    db.table("training_examples").create_index(["task"])
    db.table("model_versions").create({"task": str, "version": int, "path": str, "status": str, "int8": int,
                                 "metrics": str, "reason": str, "run_id": int, "created_at": float,
                                 "promoted_at": float}, pk=("task", "version"))
    db.table("training_runs").create({"id": int, "task": str, "status": str, "via": str, "requested_by": str,
                                "channel": str, "thread": str, "version": int, "pid": int, "progress": str,
                                "notes": str, "notes_sent": int, "message": str, "created_at": float,
                                "started_at": float, "finished_at": float}, pk="id")
    db.table("training_runs").create_index(["status"])
    db.table("questions").create({"item_id": str, "task": str, "label": str, "margin": float, "asked_at": float},
                           pk=("item_id", "task"))


@migrations()
def m006_topic_shapes(db: sqlite_utils.Database) -> None:
    for column, kind in (("half_sums", bytes), ("half_sizes", str), ("half_terms", str), ("name", str)):
        db.table("topics").add_column(column, kind)
    db.table("topic_events").create({"id": int, "kind": str, "topic_id": int, "other_id": int, "size": int,
                                     "at": float}, pk="id")
    db.table("topic_events").create_index(["topic_id"])
    db.table("topic_events").create_index(["other_id"])


@migrations()
def m007_taxonomy(db: sqlite_utils.Database) -> None:
    db.table("tasks").create({"name": str, "labels": str, "metric": str, "origin": str, "created_by": str,
                        "created_at": float}, pk="name")
    db.table("proposals").create({"id": int, "labels": str, "size": int, "status": str, "method": str, "channel": str,
                            "ts": str, "created_by": str, "created_at": float, "task": str}, pk="id")
    db.table("training_examples").add_column("item_id", str)
    db.table("training_examples").create_index(["item_id"])


@migrations()
def m008_llm(db: sqlite_utils.Database) -> None:
    db.table("llm_cache").create({"key": str, "answer": str, "created_at": float}, pk="key")
    db.table("llm_usage").create({"day": str, "calls": int, "tokens": int}, pk="day")


@migrations()
def m009_searches(db: sqlite_utils.Database) -> None:
    db.table("searches").create({"id": int, "task": str, "metric": str, "n_trials": int, "status": str, "data": str,
                           "best_trial": int, "best_params": str, "best_score": float, "message": str,
                           "created_at": float, "finished_at": float}, pk="id")
    db.table("search_trials").create({"search_id": int, "number": int, "params": str, "score": float, "state": str,
                                "seconds": float}, pk=("search_id", "number"))


@migrations()
def m010_decayed_terms(db: sqlite_utils.Database) -> None:
    db.table("topics").add_column("terms_at", float)


@migrations()
def m011_arrival_index(db: sqlite_utils.Database) -> None:
    db.table("items").create_index(["stored_at"])


@migrations()
def m012_mute_scope(db: sqlite_utils.Database) -> None:
    """A mute may name one rule ("" for every rule) and an end (``until``, a Unix time; null for good)."""
    db.table("mutes").add_column("rule", str, not_null_default="")
    db.table("mutes").add_column("until", float)
    db.table("mutes").transform(pk=("topic_id", "rule"))


@migrations()
def m013_subscriptions(db: sqlite_utils.Database) -> None:
    db.table("subscriptions").create({"id": int, "channel": str, "kind": str, "target": str, "source": str,
                                "owns_watch": int, "created_by": str, "created_at": float}, pk="id")
    db.table("subscriptions").create_index(["channel", "kind", "target"], unique=True)


@migrations()
def m014_alert_threads(db: sqlite_utils.Database) -> None:
    for column in ("posted_channel", "ts", "thread_ts"):
        db.table("alerts").add_column(column, str)
    db.table("alerts").create_index(["posted_channel", "ts"])
    db.table("threads").create({"id": int, "channel": str, "topic_id": int, "root_alert": int, "posted_channel": str,
                          "ts": str, "count": int, "shown": int, "started_at": float, "last_at": float}, pk="id")
    db.table("threads").create_index(["channel", "started_at"])


@migrations()
def m015_event_time(db: sqlite_utils.Database) -> None:
    """Every item's event time (published when plausible, else fetched; ``Item.event_time``), and every alert's: what
    trends, bursts and cooldowns are timed by. Existing rows are filled in from the times they already have."""
    db.table("items").add_column("event_time", float)
    rows = db.execute("select id, published, fetched, stored_at from items").fetchall()
    db.conn.executemany("update items set event_time = ? where id = ?",
                        [(_event_time(published, fetched, stored_at), item) for item, published, fetched, stored_at
                         in rows])
    db.table("items").create_index(["event_time"])
    db.table("alerts").add_column("event_time", float)
    db.execute("update alerts set event_time = created_at")


def _event_time(published: str | None, fetched: str | None, stored_at: float | None) -> float:
    arrived = datetime.fromisoformat(fetched) if fetched else datetime.fromtimestamp(stored_at or 0.0, UTC)
    return event_time(datetime.fromisoformat(published) if published else None, arrived)


@migrations()
def m016_representative_vectors(db: sqlite_utils.Database) -> None:
    db.table("topics").add_column("candidates", str)
    db.table("topics").add_column("rep_vectors", bytes)
