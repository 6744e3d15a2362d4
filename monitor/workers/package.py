"""What a worker trains from, since it has nothing of the daemon's filesystem: a small SQLite file with the store's
schema holding only the rows one training run of one task reads (its imported labels, its corrections and their
items, the zero-shot labels kept as pseudo-labels, the run and the version in service), and the settings that
shape the run. The worker opens it as a ``Store`` and calls the same ``job.execute`` as a local run."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

from monitor.config.schema import (
    LabelSettings,
    LearningSettings,
    ModelSettings,
    Settings,
    TaskSettings,
    TrainingSettings,
)
from monitor.store.db import Store

PSEUDO_LIMIT = 5000  # as many pseudo-labels as the local run reads (``gather``)


def build(source: str, out: Path, settings: Settings, task: str, run_id: int) -> None:
    """Write the training data of ``run_id`` (a run of ``task``) from the store file ``source`` into ``out``."""
    Store(out).close()  # the schema, by the store's own migrations
    conn = sqlite3.connect(out)
    try:
        conn.execute("attach database ? as src", [source])
        with conn:
            _copy(conn, "training_examples", "task = ? order by id", [task])
            _copy(conn, "corrections", "task = ? order by id", [task])
            _copy(conn, "items", "id in (select item_id from src.corrections where task = ?) order by rowid", [task])
            if settings.learning.pseudo_labels:
                _pseudo(conn, task, settings.learning.pseudo_min_confidence)
            _copy(conn, "training_runs", "id = ?", [run_id])
            _copy(conn, "model_versions", "task = ? and status = 'serving'", [task])
        conn.execute("detach database src")
    finally:
        conn.close()


def _pseudo(conn: sqlite3.Connection, task: str, min_confidence: float) -> None:
    """The newest confident zero-shot labels of ``task`` and their items, in the items' order."""
    picked = ("select labels.item_id from src.labels labels join src.items items on items.id = labels.item_id "
              "where labels.task = ? and labels.model = 'zero-shot' and labels.confidence >= ? "
              "order by items.rowid desc limit ?")
    args = [task, min_confidence, PSEUDO_LIMIT]
    _copy(conn, "items", f"id in ({picked}) order by rowid", args)
    _copy(conn, "labels", f"task = ? and model = 'zero-shot' and item_id in ({picked})", [task, *args])


def _copy(conn: sqlite3.Connection, table: str, where: str, args: list[Any]) -> None:
    ours = [r[1] for r in conn.execute(f"pragma main.table_info({table})")]
    theirs = {r[1] for r in conn.execute(f"pragma src.table_info({table})")}
    names = ", ".join(c for c in ours if c in theirs)
    conn.execute(f"insert or ignore into main.{table} ({names}) select {names} from src.{table} where {where}", args)


def relocate(path: Path, task: str, version: int, folder: Path) -> None:
    """Point the version in service at the worker's copy of its files."""
    conn = sqlite3.connect(path)
    try:
        with conn:
            conn.execute("update model_versions set path = ? where task = ? and version = ?",
                         [str(folder), task, version])
    finally:
        conn.close()


def settings_json(settings: Settings) -> dict[str, Any]:
    """The daemon's settings a training run follows: the encoder, the learning and training rules, the tasks."""
    return {"model": dataclasses.asdict(settings.model), "learning": dataclasses.asdict(settings.learning),
            "training": dataclasses.asdict(settings.training),
            "tasks": [dataclasses.asdict(t) for t in settings.tasks]}


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def worker_settings(own: Settings, data: dict[str, Any], store: Path, models: Path) -> Settings:
    """The worker's settings for one run: the daemon's (``settings_json``), trained on the worker's own devices
    (``model.device``, ``training.device``), with the run's store file and a registry folder of its own."""
    tasks = tuple(TaskSettings(**{**t, "labels": tuple(LabelSettings(**x) for x in t["labels"])})
                  for t in data["tasks"])
    return dataclasses.replace(
        own, store=dataclasses.replace(own.store, path=str(store)), tasks=tasks,
        model=ModelSettings(**{**_plain(data["model"]), "device": own.model.device}),
        learning=LearningSettings(**{**_plain(data["learning"]), "models_dir": str(models)}),
        training=TrainingSettings(**{**_plain(data["training"]), "device": own.training.device}))
