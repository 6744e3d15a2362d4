"""One training run: a task's training data from the store (``data``), the ladder's rungs trained
(``candidates``), the best put through the gate (``gate``) against the model in service, and the version registered.

Training data comes from imported labels, the team's corrections (weighted above imported labels; the latest
correction of an item wins) and, optionally, the zero-shot labeller's confident labels. A hash of each text puts it
in the held-out set or not, so the held-out set never moves between versions; corrections made since the model in
service was trained that fall in it form the "live" set. A new version serves only when it is not worse than the
model in service on the held-out set (within a tolerance) and does not lose on the live set.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from models import registry
from models.classifier import TaskSpec
from models.embedding import Encoder, pick_device
from models.evaluation import confusion_png
from models.finetune import Example, Progress, TrainArgs, TrainingError, fingerprint
from models.ladder import COST, ZERO_SHOT, choose
from monitor.config.schema import Settings
from monitor.learning import candidates
from monitor.learning.data import TrainingData, check_enough, gather, train_args, train_split
from monitor.learning.gate import decide, score_on, serving_candidate
from monitor.learning.runs import LearningError, minutes, models_dir, task_spec
from monitor.store.db import Store

log = logging.getLogger(__name__)
Reporter = Callable[[dict[str, Any], str], None]


def _train_rungs(settings: Settings, task: TaskSpec, data: TrainingData, train_set: list[Example],
                 vectors: candidates.Vectors, args: TrainArgs, folder: Path, version: int,
                 report_to: Reporter) -> tuple[list[candidates.Candidate], dict[str, dict[str, Any]]]:
    """Train the configured rungs; returns the trained candidates and, per rung, what happened to it."""
    t = settings.training
    trained, ladder = [], {}
    if registry.EMBEDDING_HEAD in t.rungs:
        report_to({"phase": "training", "rung": "head", "version": version}, "")
        cand = candidates.head(task, train_set, data.val, vectors, args, settings.model.embedding)
        trained.append(cand)
        ladder[cand.rung] = {"seconds": cand.seconds, **cand.details}
    if registry.FINETUNED in t.rungs:
        device = pick_device(t.device)
        estimate = candidates.finetune_estimate(task, train_set, len(data.val), args, device)
        budget = t.max_minutes * 60
        if budget and device == "cpu" and estimate > budget:
            why = (f"not trained: about {minutes(estimate)} on this CPU, over the "
                   f"training.max_minutes budget of {t.max_minutes:g} min")
            ladder[registry.FINETUNED] = {"skipped": why, "estimate_seconds": round(estimate, 1)}
            report_to({"phase": "training", "version": version}, f"Fine-tuned rung {why}.")
        else:
            report_to({"phase": "training", "rung": "fine-tuned", "version": version,
                       "estimate_seconds": round(estimate, 1)},
                      f"Fine-tuning {task.name} v{version}: at most about {minutes(estimate)} on {device}.")

            def progress(p: Progress) -> None:
                state = {"phase": "training", "rung": "fine-tuned", "version": version, "epoch": p.epoch,
                         "epochs": p.epochs, "step": p.step, "steps": p.steps, "loss": round(p.loss, 4),
                         "estimate_seconds": round(estimate, 1)}
                note = (f"epoch {p.epoch}/{p.epochs}: validation {args.metric} {p.val_score:.3f}"
                        if p.val_score is not None else "")
                report_to(state, note)

            cand = candidates.finetuned(task, train_set, data.val, [e.text for e in data.holdout], args, device,
                                        (settings.learning.int8, settings.learning.int8_min_agreement), progress,
                                        folder / "checkpoint.pt")
            trained.append(cand)
            ladder[cand.rung] = {"seconds": cand.seconds, "estimate_seconds": round(estimate, 1), **cand.details}
    return trained, ladder


def _first_line(task: TaskSpec, version: int, d: dict[str, int], rungs: tuple[str, ...]) -> str:
    """The run's first line: what it trains on, what was dropped, and which rungs it trains."""
    return (f"Training {task.name} v{version} on {d['train']} examples ({d['corrections']} corrections, "
            f"{d['imported']} imported, {d['pseudo']} pseudo-labels; dropped {d['duplicates']} duplicates, "
            f"{d['conflicts']} conflicts, {d['unknown_label']} with unknown labels); {d['holdout']} held out, "
            f"{d['live']} live"
            + (f"; validation drawn from training ({d['val']})" if d.get("val_from_train") else "")
            + (f". Plus {d['augmented']} augmented variants of examples of rare labels." if d["augmented"] else ".")
            + f" Rungs: zero-shot, {', '.join(rungs)}.")


def _version_folder(store: Store, settings: Settings, task: TaskSpec, run_id: int) -> tuple[int, Path]:
    """The version this run registers (the one it had before a crash, else the next) and its folder, created."""
    run = store.run(run_id) or {}
    root = models_dir(settings)
    version = run.get("version") or registry.next_version(root, task.name)
    folder = registry.version_dir(root, task.name, version)
    folder.mkdir(parents=True, exist_ok=True)
    store.start_run(run_id, version, os.getpid())
    return version, folder


def _judge(store: Store, settings: Settings, task: TaskSpec, data: TrainingData, vectors: candidates.Vectors,
           zero: candidates.Candidate, trained: list[candidates.Candidate], ladder: dict[str, dict[str, Any]],
           metric: str) -> tuple[candidates.Candidate, bool, str, dict[str, Any]]:
    """Score every rung on the held-out set, take the best (ties to the cheaper) and put it through the gate
    against the model in service; returns the candidate, whether it is promoted, why, and its metrics."""
    labels = task.label_names
    scores = {c.rung: score_on(c.predict, data.holdout, labels, metric) for c in [zero, *trained]}
    for name, sc in scores.items():
        ladder.setdefault(name, {})["holdout"] = sc["score"]
    best = next(c for c in trained if c.rung == choose({c.rung: scores[c.rung]["score"] for c in trained},
                                                       settings.learning.tolerance))
    cand, cand_live = scores[best.rung], score_on(best.predict, data.live, labels, metric)
    serving_name, serv_model = serving_candidate(store, settings, task, vectors, zero)
    serv = scores[ZERO_SHOT] if serv_model is zero else score_on(serv_model.predict, data.holdout, labels, metric)
    serv_live = score_on(serv_model.predict, data.live, labels, metric)
    promote, reason = decide(cand, serv, cand_live, serv_live, settings.learning.tolerance,
                             costlier=COST[best.rung] > COST[serv_model.rung])
    metrics = {"rung": best.rung, "holdout": cand, "live": cand_live, "ladder": ladder,
               "serving": {"version": serving_name, "holdout": serv, "live": serv_live},
               "train_seconds": best.seconds, "data": data.report, **best.details}
    return best, promote, reason, metrics


def _register(store: Store, task: TaskSpec, version: int, folder: Path, run_id: int, best: candidates.Candidate,
              promote: bool, reason: str, meta: dict[str, Any]) -> None:
    """Save the candidate and its confusion matrix, record the version, and promote or reject it."""
    assert best.save is not None
    best.save(folder, meta)
    metrics = meta["metrics"]
    confusion_png(folder / "confusion.png", metrics["holdout"]["confusion"], task.label_names,
                  f"{task.name} v{version} (held-out)")
    store.add_version(task.name, version, str(folder), "candidate", metrics, reason, run_id, best.int8)
    if promote:
        store.promote(task.name, version, reason)
    else:
        store.set_version_status(task.name, version, "rejected", reason)
    verdict = "promoted" if promote else "rejected"
    store.finish_run(run_id, "done", f"{task.name} v{version} ({best.rung}) {verdict}: {reason}")


def train_task(store: Store, settings: Settings, task_name: str, run_id: int, report_to: Reporter,
               encoder: Callable[[], Encoder] | None = None) -> dict[str, Any]:
    """One training run of ``task_name``: train the ladder's rungs, score each on the held-out set, and put the
    best (ties to the cheaper) through the gate against the model in service; register it either way.

    The fine-tuned rung resumes from the run's checkpoint when the run was interrupted. Raises ``LearningError``
    when no model can be trained; the model in service is never touched unless the new version passes the gate.
    """
    task = task_spec(settings, task_name)
    m = settings.model
    make_encoder = encoder or (lambda: Encoder(m.embedding, device="cpu", batch_size=m.batch_size,
                                               max_chars=m.max_chars))
    serving = store.serving().get(task.name)
    data = gather(store, settings, task, since=serving["created_at"] if serving else 0.0)
    check_enough(data, task, settings)
    args = train_args(settings, task.name)
    train_set = train_split(data, settings)
    version, folder = _version_folder(store, settings, task, run_id)
    report_to({"phase": "encoding", "version": version},
              _first_line(task, version, data.report, settings.training.rungs))
    vectors = candidates.Vectors(make_encoder())
    zero = candidates.zero_shot(task, vectors)
    try:
        trained, ladder = _train_rungs(settings, task, data, train_set, vectors, args, folder, version, report_to)
    except (TrainingError, ValueError) as exc:
        raise LearningError(str(exc)) from exc
    report_to({"phase": "evaluating", "version": version}, "")
    best, promote, reason, metrics = _judge(store, settings, task, data, vectors, zero, trained, ladder, args.metric)
    _register(store, task, version, folder, run_id, best, promote, reason,
              {"task": task.name, "version": version, "labels": task.label_names, "args": asdict(args),
               "metrics": metrics, "fingerprint": fingerprint(task.label_names, train_set, args),
               "created_at": time.time()})
    return {"version": version, "promoted": promote, "reason": reason, "metrics": metrics, "folder": str(folder)}


def remove_unfinished(folder: Path) -> None:
    """Delete the folder of a run that failed for good (it has no meta.json); finished versions are kept."""
    if folder.is_dir() and not (folder / registry.META).exists():
        shutil.rmtree(folder, ignore_errors=True)
