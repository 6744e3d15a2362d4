"""The store's learning records: labelled examples, training runs, model versions, questions, searches."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from typing import Any

from models import active
from monitor.store.items import ask_embeddings
from monitor.store.learning_rows import (
    CorrectedItem,
    ImportedExample,
    PseudoLabel,
    Run,
    Search,
    UnsureItem,
    Version,
    run_row,
    search_row,
    version_row,
)
from monitor.store.rows import row_item


class LearningRecords:
    """Examples, corrections read for training, runs and their notes, versions, active-learning
    questions and hyper-parameter searches.
    Mixed into ``Store``, whose ``db`` and ``_conn`` they use."""

    db: Any
    _conn: Any

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

    def examples(self, task: str) -> list[ImportedExample]:
        return [ImportedExample(r["text"], r["label"], r["split"] or "", r["source"] or "") for r in self.db.query(
            "select text, label, split, source from training_examples where task = ? order by id", [task])]

    def corrected_items(self, task: str) -> list[CorrectedItem]:
        """Every correction of ``task`` with the text the models read, oldest first."""
        rows = self.db.query(
            "select corrections.id as correction_id, corrections.new_label, corrections.created_at as corrected_at, "
            "items.* from corrections join items on items.id = corrections.item_id where corrections.task = ? "
            "order by corrections.id", [task])
        return [CorrectedItem(r["id"], r["new_label"], r["corrected_at"], row_item(r).content) for r in rows]

    def confident_labels(self, task: str, model: str, min_confidence: float, limit: int) -> list[PseudoLabel]:
        """Items ``model`` labelled with at least ``min_confidence`` (pseudo-labels), newest first."""
        rows = self.db.query(
            "select labels.label, items.* from labels join items on items.id = labels.item_id where labels.task = ? "
            "and labels.model = ? and labels.confidence >= ? order by items.rowid desc limit ?",
            [task, model, min_confidence, limit])
        return [PseudoLabel(r["label"], row_item(r).content) for r in rows]

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

    def claim_run(self) -> Run | None:
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

    def run(self, run_id: int) -> Run | None:
        rows = list(self.db.query("select * from training_runs where id = ?", [run_id]))
        return run_row(rows[0]) if rows else None

    def runs(self, task: str | None = None, limit: int = 20) -> list[Run]:
        where, args = ("where task = ?", [task]) if task else ("", [])
        return [run_row(r) for r in self.db.query(f"select * from training_runs {where} order by id desc limit ?",
                                                  [*args, limit])]

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

    def unsent_notes(self) -> list[Run]:
        """Runs with lines not yet relayed to the people following them."""
        return [run_row(r) for r in self.db.query(
            "select * from training_runs where json_array_length(notes) > notes_sent")]

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

    def versions(self, task: str | None = None) -> list[Version]:
        where, args = ("where task = ?", [task]) if task else ("", [])
        return [version_row(r) for r in self.db.query(f"select * from model_versions {where} order by task, version",
                                                      args)]

    def serving(self) -> dict[str, Version]:
        """The version in service for each task that has one (other tasks are served zero-shot)."""
        return {r["task"]: version_row(r)
                for r in self.db.query("select * from model_versions where status = 'serving'")}

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

    def least_sure(self, task: str, since: float, limit: int, strategy: str = "spread") -> list[UnsureItem]:
        """Up to ``limit`` items labelled by a model since ``since``, never asked about and never corrected, chosen by
        ``models.active.select`` with ``strategy`` from the margin between their top two labels, their topic (merges
        followed) and, for the strategies that read them, their embeddings and those of the items people labelled."""
        rows = [r for r in self.db.query(
            "select items.*, labels.label, labels.scores from labels join items on items.id = labels.item_id "
            "where labels.task = ? and labels.model != 'human' and items.stored_at >= ? and not exists "
            "(select 1 from questions q where q.item_id = labels.item_id and q.task = labels.task) "
            "order by items.rowid", [task, since])]
        scored = [(top[0] - top[1], r) for r in rows
                  if len(top := sorted(json.loads(r["scores"] or "{}").values(), reverse=True)) >= 2]
        final = self._final_topic()
        embedded = strategy in active.EMBEDDED and scored
        candidates, labelled = ask_embeddings(self.db, task, [r for _, r in scored]) if embedded else (None, None)
        picked = active.select([m for m, _ in scored], [final(r["topic_id"] or 0) for _, r in scored], limit,
                               strategy, embeddings=candidates, labelled=labelled,
                               classes=len(json.loads(scored[0][1]["scores"])) if embedded else 2)
        return [UnsureItem(r["id"], r["title"] or "", row_item(r).content, r["url"] or "", r["label"], round(margin, 4),
                           final(r["topic_id"] or 0)) for margin, r in (scored[i] for i in picked)]

    def record_questions(self, task: str, asked: Sequence[UnsureItem]) -> None:
        with self._conn:
            self._conn.executemany("insert or ignore into questions (item_id, task, label, margin, asked_at) "
                                   "values (?, ?, ?, ?, ?)",
                                   [(q.item_id, task, q.label, q.margin, time.time()) for q in asked])

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

    def search(self, search_id: int) -> Search | None:
        """A hyper-parameter search with its best parameters and every trial, in order."""
        rows = list(self.db.query("select * from searches where id = ?", [search_id]))
        if not rows:
            return None
        return search_row(rows[0], list(self.db.query(
            "select number, params, score, state, seconds from search_trials where search_id = ? order by number",
            [search_id])))
