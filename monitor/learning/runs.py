"""Training runs and versions as the CLI and the bot see them: tasks, queued runs, the model list, promotion by hand
and roll-back. Light to import (no torch, no scikit-learn) so that read-only commands start fast."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from models.classifier import LabelSpec, TaskSpec
from models.registry import FINETUNED, ModelLoadError
from monitor.config.schema import Settings
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.store.learning_rows import Version


class LearningError(RuntimeError):
    """A training run cannot produce a model; the model in service stays."""


class RunStopped(LearningError):
    """The run's caller stopped it (a worker whose run was taken over): not a failure of the training."""


def models_dir(settings: Settings) -> Path:
    return Path(settings.learning.models_dir or f"{settings.store.path}.models")


def task_specs(settings: Settings) -> list[TaskSpec]:
    return [TaskSpec(name=t.name, labels=tuple(LabelSpec(x.name, x.description) for x in t.labels),
                     unsure_below=t.unsure_below, temperature=t.temperature) for t in settings.tasks]


def task_spec(settings: Settings, name: str) -> TaskSpec:
    specs = {t.name: t for t in task_specs(settings)}
    if name not in specs:
        raise ServiceError(f"no task `{name}`; tasks are: {', '.join(specs) or 'none configured'}")
    return specs[name]


# what the CLI and the bot ask of the loop ----------------------------------------------------------------------------
def request_retrain(store: Store, settings: Settings, task: str | None, via: str, user: str = "",
                    channel: str = "", thread: str = "", start: bool = False) -> list[tuple[str, int, bool]]:
    """Queue a training run of ``task`` (or every task; ``start``: the caller runs it now); returns
    ``(task, run id, newly queued)`` for each."""
    names = [task_spec(settings, task).name] if task else [t.name for t in settings.tasks]
    if not names:
        raise ServiceError("no tasks are configured, so there is nothing to train")
    return [(name, *store.request_run(name, via, user, channel, thread, start)) for name in names]


def model_summary(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """Per task: the model in service and its rung, its held-out score and zero-shot's in the same run, the
    corrections made since the last training run, and how many corrections agree with the task's automatic
    (taxonomy) labels, as ``(agreeing, compared)``."""
    serving = store.serving()
    out = []
    for task in settings.tasks:
        row = serving.get(task.name)
        holdout = row.metrics.get("holdout", {}) if row else {}
        ladder = row.metrics.get("ladder", {}) if row else {}
        out.append({"task": task.name, "version": f"v{row.version}" if row else "zero-shot",
                    "rung": row.metrics.get("rung", FINETUNED) if row else "zero-shot",
                    "int8": bool(row and row.int8), "metric": holdout.get("metric", task.metric),
                    "score": holdout.get("score"), "zero_shot": ladder.get("zero-shot", {}).get("holdout"),
                    "waiting": store.count_corrections_since(task.name, store.last_run_at(task.name)),
                    "auto_agreement": store.auto_label_agreement(task.name)})
    return out


def _version(store: Store, task: str, version: str) -> Version:
    number = version.lower().lstrip("v")
    if not number.isdigit():
        raise ServiceError(f"`{version}` is not a version: expected a number such as 3 or v3")
    found = [v for v in store.versions(task) if v.version == int(number)]
    if not found:
        raise ServiceError(f"task `{task}` has no version {number}; see `lookout models list`")
    return found[0]


def promote(store: Store, settings: Settings, task: str, version: str, user: str) -> Version:
    """Put a registered version in service by hand, after checking that it loads and fits the task's labels."""
    from models.ladder import open_version

    spec = task_spec(settings, task)
    row = _version(store, task, version)
    try:
        open_version(spec, row.path, f"v{row.version}", settings.model.embedding, device="cpu")
    except ModelLoadError as exc:
        store.set_version_status(task, row.version, "broken", str(exc))
        raise ServiceError(f"refused: {exc}") from None
    store.promote(task, row.version, f"promoted by hand by {user}")
    return row


def rollback(store: Store, settings: Settings, task: str, user: str) -> Version | None:
    """Serve the version that served before the current one (or zero-shot when there was none); returns it."""
    task_spec(settings, task)
    current = store.serving().get(task)
    if current is None:
        raise ServiceError(f"task `{task}` is served zero-shot already; nothing to roll back")
    earlier = [v for v in store.versions(task) if v.status == "retired" and v.promoted_at
               and v.version < current.version]
    store.set_version_status(task, current.version, "rolled back", f"rolled back by {user}")
    if not earlier:
        return None
    previous = max(earlier, key=lambda v: v.promoted_at or 0.0)
    store.promote(task, previous.version, f"rolled back to by {user}")
    return previous


def minutes(seconds: float) -> str:
    """A duration as people say it: ``40 s``, ``3 min``, ``2.5 h``."""
    if seconds < 90:
        return f"{max(1, math.ceil(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
