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
from models.ladder import COST, RUNGS, ZERO_SHOT, choose
from monitor.config.schema import Settings
from monitor.learning import candidates, crossval
from monitor.learning.data import TrainingData, check_enough, gather, setfit_args, train_args, train_split
from monitor.learning.gate import decide, score_on, serving_candidate
from monitor.learning.runs import LearningError, minutes, models_dir, task_spec
from monitor.store.db import Store

log = logging.getLogger(__name__)
Reporter = Callable[[dict[str, Any], str], None]


TITLES = {registry.SETFIT: ("SetFit", "Tuning the encoder of"), registry.FINETUNED: ("Fine-tuned", "Fine-tuning")}
"""Per costly rung: its name in messages, and what its training is called."""


def _fits(settings: Settings, task: TaskSpec, vectors: candidates.Vectors, args: TrainArgs) -> candidates.Fits:
    return candidates.Fits(task, vectors, args, setfit_args(settings), settings.model.embedding,
                           pick_device(settings.training.device),
                           (settings.learning.int8, settings.learning.int8_min_agreement))


def _over_budget(settings: Settings, device: str, seconds: float) -> bool:
    budget = settings.training.max_minutes * 60
    return bool(budget) and device == "cpu" and seconds > budget


def _progress(rung: str, version: int, estimate: float, metric: str, report_to: Reporter) -> candidates.OnProgress:
    def progress(p: Progress) -> None:
        state = {"phase": "training", "rung": rung, "version": version, "epoch": p.epoch, "epochs": p.epochs,
                 "step": p.step, "steps": p.steps, "loss": round(p.loss, 4), "estimate_seconds": round(estimate, 1)}
        report_to(state, f"epoch {p.epoch}/{p.epochs}: validation {metric} {p.val_score:.3f}"
                  if p.val_score is not None else "")

    return progress


def _train_rungs(settings: Settings, task: TaskSpec, data: TrainingData, train_set: list[Example],
                 fits: candidates.Fits, folder: Path, version: int,
                 report_to: Reporter) -> tuple[list[candidates.Candidate], dict[str, dict[str, Any]]]:
    """Train the configured rungs, cheapest first, a costly one only when its estimate fits the budget; returns the
    trained candidates and, per rung, what happened to it."""
    trained, ladder = [], {}
    holdout = [e.text for e in data.holdout]
    for rung in RUNGS[1:]:
        if rung not in settings.training.rungs:
            continue
        estimate = fits.estimate(rung, train_set, len(data.val), len(holdout))
        entry = {"estimate_seconds": round(estimate, 1)} if rung in candidates.COSTLY else {}
        if rung in candidates.COSTLY and _over_budget(settings, fits.device, estimate):
            why = (f"not trained: about {minutes(estimate)} on this CPU, over the "
                   f"training.max_minutes budget of {settings.training.max_minutes:g} min")
            ladder[rung] = {"skipped": why, **entry}
            report_to({"phase": "training", "version": version}, f"{TITLES[rung][0]} rung {why}.")
            continue
        report_to({"phase": "training", "rung": rung, "version": version, **entry},
                  f"{TITLES[rung][1]} {task.name} v{version}: at most about {minutes(estimate)} on {fits.device}."
                  if rung in candidates.COSTLY else "")
        cand = fits.fit(rung, train_set, data.val, holdout,
                        _progress(rung, version, estimate, fits.args.metric, report_to), folder / "checkpoint.pt")
        trained.append(cand)
        ladder[rung] = {"seconds": cand.seconds, **entry, **cand.details}
    return trained, ladder


def _cross_validate(settings: Settings, fits: candidates.Fits, data: TrainingData, ladder: dict[str, dict[str, Any]],
                    version: int, report_to: Reporter) -> bool:
    """When the held-out set is under ``learning.cv_below`` texts, score zero-shot and every trained rung by k-fold
    cross-validation (a costly rung only when k runs of it fit the budget) into ``ladder[rung]["cv"]``; returns
    whether it did."""
    s = settings.learning
    if len(data.holdout) >= s.cv_below:
        return False
    examples, always_train = crossval.pool(data)
    report_to({"phase": "cross-validating", "version": version},
              f"The held-out set has {len(data.holdout)} texts (under learning.cv_below = {s.cv_below}): the rungs "
              f"are chosen by {s.cv_folds}-fold cross-validation over {len(examples)} labelled examples.")
    for rung in [ZERO_SHOT, *(r for r in RUNGS[1:] if r in ladder and "skipped" not in ladder[r])]:
        entry = ladder.setdefault(rung, {})
        runs_take = s.cv_folds * entry.get("estimate_seconds", 0.0)
        if rung in candidates.COSTLY and _over_budget(settings, fits.device, runs_take):
            entry["cv_skipped"] = f"chosen on its held-out score: {s.cv_folds} runs would take about " \
                                  f"{minutes(runs_take)}"
            continue
        report_to({"phase": "cross-validating", "rung": rung, "version": version}, "")
        try:
            found = crossval.cross_validate(fits, rung, examples, always_train, s.cv_folds)
        except (TrainingError, ValueError) as exc:
            entry["cv_skipped"] = f"chosen on its held-out score: cross-validation failed ({exc})"
            continue
        entry["cv"] = round(found.score, 4)
        if found.strength is not None:
            entry["cv_strength"] = found.strength
    return True


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
    run = store.run(run_id)
    root = models_dir(settings)
    version = (run and run.version) or registry.next_version(root, task.name)
    folder = registry.version_dir(root, task.name, version)
    folder.mkdir(parents=True, exist_ok=True)
    store.start_run(run_id, version, os.getpid())
    return version, folder


def _judge(store: Store, settings: Settings, task: TaskSpec, data: TrainingData, fits: candidates.Fits,
           train_set: list[Example], zero: candidates.Candidate, trained: list[candidates.Candidate],
           ladder: dict[str, dict[str, Any]]) -> tuple[candidates.Candidate, bool, str, dict[str, Any]]:
    """Score every rung on the held-out set, take the best (by cross-validation where it ran; ties to the cheaper)
    and put it through the gate against the model in service; returns the candidate, whether it is promoted, why,
    and its metrics. A head chosen by cross-validation is refit on training and validation together, with the
    strength its folds chose."""
    labels, metric, vectors = task.label_names, fits.args.metric, fits.vectors
    scores = {c.rung: score_on(c.predict, data.holdout, labels, metric) for c in [zero, *trained]}
    for name, sc in scores.items():
        ladder.setdefault(name, {})["holdout"] = sc["score"]
    chosen_on = {c.rung: ladder[c.rung].get("cv", scores[c.rung]["score"]) for c in trained}
    best = next(c for c in trained if c.rung == choose(chosen_on, settings.learning.tolerance))
    if "cv_strength" in ladder[best.rung]:
        best = fits.refit_head([*train_set, *data.val], ladder[best.rung]["cv_strength"])
        scores[best.rung] = score_on(best.predict, data.holdout, labels, metric)
        ladder[best.rung].update(refit_holdout=scores[best.rung]["score"], refit_seconds=best.seconds)
    cand, cand_live = scores[best.rung], score_on(best.predict, data.live, labels, metric)
    serving_name, serv_model = serving_candidate(store, settings, task, vectors, zero)
    serv = scores[ZERO_SHOT] if serv_model is zero else score_on(serv_model.predict, data.holdout, labels, metric)
    serv_live = score_on(serv_model.predict, data.live, labels, metric)
    by_cv = serv_model is zero and "cv" in ladder[best.rung] and "cv" in ladder[ZERO_SHOT]
    gate_cand, gate_serv = (({**cand, "score": ladder[best.rung]["cv"]}, {**serv, "score": ladder[ZERO_SHOT]["cv"]})
                            if by_cv else (cand, serv))
    promote, reason = decide(gate_cand, gate_serv, cand_live, serv_live, settings.learning.tolerance,
                             costlier=COST[best.rung] > COST[serv_model.rung],
                             basis="cross-validated" if by_cv else "held-out")
    metrics = {"rung": best.rung, "holdout": cand, "live": cand_live, "ladder": ladder,
               "chosen_by": "cross-validation" if "cv" in ladder[best.rung] else "held-out",
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
    data = gather(store, settings, task, since=serving.created_at if serving else 0.0)
    check_enough(data, task, settings)
    args = train_args(settings, task.name)
    train_set = train_split(data, settings)
    version, folder = _version_folder(store, settings, task, run_id)
    report_to({"phase": "encoding", "version": version},
              _first_line(task, version, data.report, settings.training.rungs))
    vectors = candidates.Vectors(make_encoder())
    zero = candidates.zero_shot(task, vectors)
    fits = _fits(settings, task, vectors, args)
    try:
        trained, ladder = _train_rungs(settings, task, data, train_set, fits, folder, version, report_to)
        _cross_validate(settings, fits, data, ladder, version, report_to)
    except (TrainingError, ValueError) as exc:
        raise LearningError(str(exc)) from exc
    report_to({"phase": "evaluating", "version": version}, "")
    best, promote, reason, metrics = _judge(store, settings, task, data, fits, train_set, zero, trained, ladder)
    _register(store, task, version, folder, run_id, best, promote, reason,
              {"task": task.name, "version": version, "labels": task.label_names, "args": asdict(args),
               "metrics": metrics, "fingerprint": fingerprint(task.label_names, train_set, args),
               "created_at": time.time()})
    return {"version": version, "promoted": promote, "reason": reason, "metrics": metrics, "folder": str(folder)}


def remove_unfinished(folder: Path) -> None:
    """Delete the folder of a run that failed for good (it has no meta.json); finished versions are kept."""
    if folder.is_dir() and not (folder / registry.META).exists():
        shutil.rmtree(folder, ignore_errors=True)
