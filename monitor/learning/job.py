"""Training runs in a process of its own, so the daemon keeps ingesting and answering while a model trains.

``execute`` carries one claimed run to its end and records the outcome in the store, whatever happens; the daemon
starts it in a spawned process (``start``) and ``lookout train`` calls it in the foreground with a progress bar.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from models import registry
from monitor.config.schema import Settings
from monitor.learning.runs import LearningError, RunStopped, models_dir
from monitor.learning.train import remove_unfinished, train_task
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.taxonomy.workflow import with_stored_tasks

log = logging.getLogger(__name__)
PROGRESS_EVERY = 2.0


def execute(store: Store, settings: Settings, run_id: int,
            on_progress: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any] | None:
    """Train the run's task; on any failure the run is marked failed with a message and the model in service
    stays. Returns the outcome, or None when the run failed."""
    run = store.run(run_id)
    if run is None:
        raise ServiceError(f"there is no training run #{run_id}")
    task = run.task
    last = [0.0]

    def report(state: dict[str, Any], note: str) -> None:
        if on_progress:
            on_progress(state)
        if note or time.monotonic() - last[0] >= PROGRESS_EVERY:
            last[0] = time.monotonic()
            store.run_progress(run_id, state, note)

    level = logging.ERROR
    try:
        return train_task(store, settings, task, run_id, report)
    except RunStopped as exc:
        level, message = logging.INFO, f"{task}: training stopped, the model in service stays: {exc}"
    except (LearningError, ServiceError) as exc:
        message = f"{task}: training failed, the model in service stays: {exc}"
    except MemoryError:
        message = (f"{task}: training ran out of memory, the model in service stays; lower training.batch_size or "
                   "training.max_length")
    except Exception as exc:
        log.exception("training run #%d of %s crashed", run_id, task)
        message = f"{task}: training crashed ({type(exc).__name__}: {exc}); the model in service stays"
    log.log(level, "%s", message)
    store.finish_run(run_id, "failed", message)
    version = ended.version if (ended := store.run(run_id)) else None
    if version:
        remove_unfinished(registry.version_dir(models_dir(settings), task, version))
    return None


def _child(settings: Settings, run_id: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    store = Store(settings.store.path)
    try:
        execute(store, with_stored_tasks(settings, store), run_id)
    finally:
        store.close()


def start(settings: Settings, run_id: int) -> BaseProcess:
    """Run ``execute`` for ``run_id`` in a fresh (spawned) process."""
    process = multiprocessing.get_context("spawn").Process(target=_child, args=(settings, run_id),
                                                           name=f"lookout-train-{run_id}")
    process.start()
    return process
