"""The store's labels and corrections: the labels an item has, a person's correction (kept, and the label it
replaced), and how often the classifiers agree with labels the items came with."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Correction:
    """A person's correction of an item's label for a task (``old_label`` empty when it had none)."""

    id: int
    item_id: str
    task: str
    old_label: str
    new_label: str
    user: str
    via: str
    created_at: float


class LabelRecords:
    """Mixed into ``Store``, whose ``db`` and ``_conn`` they use."""

    db: Any
    _conn: Any

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

    def corrections(self, task: str | None = None) -> list[Correction]:
        """The corrections (of ``task``), oldest first."""
        where, args = ("where task = ?", [task]) if task else ("", [])
        return [Correction(r["id"], r["item_id"], r["task"], r["old_label"] or "", r["new_label"], r["user"] or "",
                           r["via"] or "", r["created_at"])
                for r in self.db.query(f"select * from corrections {where} order by id", args)]

    def label_tasks(self) -> list[str]:
        """The tasks that have labelled at least one item."""
        return [r["task"] for r in self.db.query("select distinct task from labels order by task")]

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
