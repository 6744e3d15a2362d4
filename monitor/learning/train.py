"""The learning loop: a task's training data from the store, a training run, and the gate that promotes a model.

Training data comes from imported labels, the team's corrections (weighted above imported labels; the latest
correction of an item wins) and, optionally, the zero-shot labeller's confident labels. A hash of each text puts it
in the held-out set or not, so the held-out set never moves between versions; corrections made since the model in
service was trained that fall in it form the "live" set. A new version serves only when it is not worse than the
model in service on the held-out set (within a tolerance) and does not lose on the live set. Each run trains the
ladder's rungs (monitor.learning.candidates) and puts the best forward.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from models import registry
from models.augment import Augmenter
from models.classifier import LabelSpec, TaskSpec
from models.embedding import Encoder, pick_device
from models.evaluation import confusion_png, report
from models.finetune import Example, Progress, TrainArgs, TrainingError, fingerprint
from models.ladder import COST, ZERO_SHOT, choose, open_version
from models.registry import ModelLoadError, rung
from monitor.config import Settings
from monitor.learning import candidates
from monitor.service import ServiceError
from monitor.store import Store

log = logging.getLogger(__name__)
Reporter = Callable[[dict[str, Any], str], None]


class LearningError(RuntimeError):
    """A training run cannot produce a model; the model in service stays."""


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


def train_args(settings: Settings, task: str) -> TrainArgs:
    t = settings.training
    metric = next(x.metric for x in settings.tasks if x.name == task)
    return TrainArgs(base=t.base, freeze_layers=t.freeze_layers, epochs=t.epochs, patience=t.patience,
                     learning_rate=t.learning_rate, warmup_ratio=t.warmup_ratio, batch_size=t.batch_size,
                     grad_accum=t.grad_accum, max_length=t.max_length, class_weighting=t.class_weighting,
                     seed=t.seed, metric=metric, max_minutes=t.max_minutes)


def same_text(text: str) -> str:
    """The key under which texts count as the same (case and spacing ignored), for duplicates and leaks."""
    return " ".join(text.lower().split())


def _bucket(task: str, text: str) -> int:
    key = same_text(text)
    return int(hashlib.sha1(f"{task}\x00{key}".encode()).hexdigest()[:8], 16) % 100


@dataclass
class TrainingData:
    train: list[Example] = field(default_factory=list)
    val: list[Example] = field(default_factory=list)
    holdout: list[Example] = field(default_factory=list)
    live: list[Example] = field(default_factory=list)
    report: dict[str, int] = field(default_factory=dict)


def gather(store: Store, settings: Settings, task: TaskSpec, since: float) -> TrainingData:
    """The training, validation, held-out and live sets of ``task``, duplicates and conflicts resolved. Texts
    without a split go by their hash; when the imported splits name no validation (or no test) set, one is drawn
    from the rows marked ``train`` by the same hash."""
    s = settings.learning
    names = set(task.label_names)
    counts = {"imported": 0, "corrections": 0, "pseudo": 0, "duplicates": 0, "conflicts": 0, "unknown_label": 0}
    chosen: dict[str, dict[str, Any]] = {}
    conflicted: set[str] = set()

    def offer(text: str, label: str, weight: float, tier: int, split: str, when: float = 0.0) -> None:
        if label not in names:
            counts["unknown_label"] += 1
            return
        key = same_text(text)
        held = chosen.get(key)
        if held is None or tier > held["tier"] or (tier == held["tier"] == 2):
            chosen[key] = {"text": text, "label": label, "weight": weight, "tier": tier, "split": split,
                           "when": when}
            if held is not None:
                counts["duplicates"] += 1
        elif tier == held["tier"] and label != held["label"]:
            conflicted.add(key)
        else:
            counts["duplicates"] += 1

    for row in store.examples(task.name):
        counts["imported"] += 1
        offer(row["text"], row["label"], 1.0, 1, row["split"] or "")
    for row in store.corrected_items(task.name):
        counts["corrections"] += 1
        offer(row["text"], row["label"], s.correction_weight, 2, "", row["created_at"])
    if s.pseudo_labels:
        for row in store.confident_labels(task.name, "zero-shot", s.pseudo_min_confidence, 5000):
            counts["pseudo"] += 1
            offer(row["text"], row["label"], s.pseudo_weight, 0, "train")
    for key in conflicted:
        if key in chosen and chosen[key]["tier"] == 1:
            del chosen[key]
            counts["conflicts"] += 1
    data = TrainingData(report=counts)
    hp = s.holdout_percent
    rows = []
    for row in chosen.values():
        bucket = _bucket(task.name, row["text"])
        by_hash = "test" if bucket < hp else "val" if bucket < hp + 15 else "train"
        rows.append((row, by_hash, row["split"] or by_hash))
    present = {split for row, _, split in rows if row["tier"] > 0}
    counts.update(val_from_train=0, holdout_from_train=0)
    for row, by_hash, split in rows:
        example = Example(row["text"], row["label"], row["weight"])
        if split == "train" and row["split"] and row["tier"] > 0 and by_hash not in present:
            split = by_hash
            counts["val_from_train" if split == "val" else "holdout_from_train"] += 1
        if row["tier"] == 0 and split != "train":
            continue
        {"test": data.holdout, "val": data.val}.get(split, data.train).append(example)
        if split == "test" and row["tier"] == 2 and row["when"] > since:
            data.live.append(example)
    counts.update(train=len(data.train), val=len(data.val), holdout=len(data.holdout), live=len(data.live))
    return data


def check_enough(data: TrainingData, task: TaskSpec, settings: Settings) -> None:
    """Raise ``LearningError`` naming what is missing when ``data`` is too small to train on."""
    s = settings.learning
    per_label = {name: sum(e.label == name for e in data.train) for name in task.label_names}
    short = [f"{name} ({n})" for name, n in per_label.items() if n < s.min_per_label]
    if len(data.train) < s.min_examples or short or not data.val or not data.holdout:
        raise LearningError(
            f"task {task.name!r} has too few labels to train: {len(data.train)} training examples (needs "
            f"{s.min_examples}), {len(data.val)} validation, {len(data.holdout)} held out"
            + (f"; labels under {s.min_per_label} examples: {', '.join(short)}" if short else "")
            + ". Correct more items (`lookout label`, Slack) or import labels (`lookout labels import`).")


def train_split(data: TrainingData, settings: Settings) -> list[Example]:
    """What a model trains on: ``data.train`` plus, with ``training.augment``, seeded variants of the examples of
    rare labels; no variant joins the validation or held-out sets or repeats one of their texts. How many variants
    were made goes into ``data.report["augmented"]``."""
    t = settings.training
    data.report["augmented"] = 0
    if not t.augment:
        return data.train
    try:
        augmenter = Augmenter.load(t.base, t.seed)
    except TrainingError as exc:
        raise LearningError(str(exc)) from exc
    held = {same_text(e.text) for e in [*data.val, *data.holdout]}
    variants = [e for e in augmenter.augment(data.train, t.augment, t.augment_below) if same_text(e.text) not in held]
    data.report["augmented"] = len(variants)
    return data.train + variants


def decide(candidate: dict[str, Any], serving: dict[str, Any], cand_live: dict[str, Any], serv_live: dict[str, Any],
           tolerance: float, costlier: bool = False) -> tuple[bool, str]:
    """Whether a candidate replaces the model in service, and why, from their scores on the same sets. A candidate
    of a ``costlier`` rung than the one in service must win by more than the tolerance: a tie goes to the cheaper."""
    metric = candidate["metric"]
    c, s = candidate["score"], serving["score"]
    if costlier and c <= s + tolerance:
        return False, (f"held-out {metric} {c:.3f} does not beat the cheaper model in service's {s:.3f} by more "
                       f"than the tolerance {tolerance:g}")
    if c < s - tolerance:
        return False, (f"held-out {metric} {c:.3f} is below the model in service's {s:.3f} by more than the "
                       f"tolerance {tolerance:g}")
    if cand_live.get("n") and cand_live["accuracy"] < serv_live["accuracy"]:
        return False, (f"loses on the {cand_live['n']} live corrections: accuracy {cand_live['accuracy']:.3f} "
                       f"against {serv_live['accuracy']:.3f}")
    live = (f"; live corrections accuracy {cand_live['accuracy']:.3f} vs {serv_live['accuracy']:.3f}"
            if cand_live.get("n") else "")
    return True, f"held-out {metric} {c:.3f} vs {s:.3f} for the model in service{live}"


def _score(predict: Callable[[list[str]], list[str]], examples: list[Example], labels: list[str],
           metric: str) -> dict[str, Any]:
    texts = [e.text for e in examples]
    return report([e.label for e in examples], predict(texts) if texts else [], labels, metric)


def serving_candidate(store: Store, settings: Settings, task: TaskSpec, vectors: candidates.Vectors,
                      zero: candidates.Candidate) -> tuple[str, candidates.Candidate]:
    """The model in service for ``task``, as its version name and a candidate to score (zero-shot when none)."""
    row = store.serving().get(task.name)
    if row is None:
        return ZERO_SHOT, zero
    try:
        clf = open_version(task, row["path"], f"v{row['version']}", settings.model.embedding, device="cpu")
    except ModelLoadError as exc:
        log.warning("the model in service cannot be scored, so the candidate is compared with zero-shot: %s", exc)
        return ZERO_SHOT, zero

    def predict(texts: list[str]) -> list[str]:
        return [p.label for p in clf.predict(texts, vectors(texts))] if texts else []

    return clf.version, candidates.Candidate(rung(row["metrics"]), predict)


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
            why = (f"not trained: about {candidates.minutes(estimate)} on this CPU, over the "
                   f"training.max_minutes budget of {t.max_minutes:g} min")
            ladder[registry.FINETUNED] = {"skipped": why, "estimate_seconds": round(estimate, 1)}
            report_to({"phase": "training", "version": version}, f"Fine-tuned rung {why}.")
        else:
            report_to({"phase": "training", "rung": "fine-tuned", "version": version,
                       "estimate_seconds": round(estimate, 1)},
                      f"Fine-tuning {task.name} v{version}: at most about {candidates.minutes(estimate)} on {device}.")

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


def train_task(store: Store, settings: Settings, task_name: str, run_id: int, report_to: Reporter,
               encoder: Callable[[], Encoder] | None = None) -> dict[str, Any]:
    """One training run of ``task_name``: train the ladder's rungs, score each on the held-out set, and put the
    best (ties to the cheaper) through the gate against the model in service; register it either way.

    The fine-tuned rung resumes from the run's checkpoint when the run was interrupted. Raises ``LearningError``
    when no model can be trained; the model in service is never touched unless the new version passes the gate.
    """
    task = task_spec(settings, task_name)
    labels = task.label_names
    m = settings.model
    make_encoder = encoder or (lambda: Encoder(m.embedding, device="cpu", batch_size=m.batch_size,
                                               max_chars=m.max_chars))
    serving = store.serving().get(task.name)
    data = gather(store, settings, task, since=serving["created_at"] if serving else 0.0)
    check_enough(data, task, settings)
    args = train_args(settings, task.name)
    train_set = train_split(data, settings)
    run = store.run(run_id) or {}
    root = models_dir(settings)
    version = run.get("version") or registry.next_version(root, task.name)
    folder = registry.version_dir(root, task.name, version)
    folder.mkdir(parents=True, exist_ok=True)
    store.start_run(run_id, version, os.getpid())
    d = data.report
    report_to({"phase": "encoding", "version": version}, (
        f"Training {task.name} v{version} on {d['train']} examples ({d['corrections']} corrections, {d['imported']} "
        f"imported, {d['pseudo']} pseudo-labels; dropped {d['duplicates']} duplicates, {d['conflicts']} conflicts, "
        f"{d['unknown_label']} with unknown labels); {d['holdout']} held out, {d['live']} live"
        + (f"; validation drawn from training ({d['val']})" if d.get("val_from_train") else "")
        + (f". Plus {d['augmented']} augmented variants of examples of rare labels." if d["augmented"] else ".")
        + f" Rungs: zero-shot, {', '.join(settings.training.rungs)}."))
    vectors = candidates.Vectors(make_encoder())
    zero = candidates.zero_shot(task, vectors)
    try:
        trained, ladder = _train_rungs(settings, task, data, train_set, vectors, args, folder, version, report_to)
    except (TrainingError, ValueError) as exc:
        raise LearningError(str(exc)) from exc
    report_to({"phase": "evaluating", "version": version}, "")
    scores = {c.rung: _score(c.predict, data.holdout, labels, args.metric) for c in [zero, *trained]}
    for name, sc in scores.items():
        ladder.setdefault(name, {})["holdout"] = sc["score"]
    best = next(c for c in trained if c.rung == choose({c.rung: scores[c.rung]["score"] for c in trained},
                                                       settings.learning.tolerance))
    cand, cand_live = scores[best.rung], _score(best.predict, data.live, labels, args.metric)
    serving_name, serv_model = (ZERO_SHOT, zero) if serving is None else serving_candidate(
        store, settings, task, vectors, zero)
    serv = scores[ZERO_SHOT] if serv_model is zero else _score(serv_model.predict, data.holdout, labels, args.metric)
    serv_live = _score(serv_model.predict, data.live, labels, args.metric)
    promote, reason = decide(cand, serv, cand_live, serv_live, settings.learning.tolerance,
                             costlier=COST[best.rung] > COST[serv_model.rung])
    metrics = {"rung": best.rung, "holdout": cand, "live": cand_live, "ladder": ladder,
               "serving": {"version": serving_name, "holdout": serv, "live": serv_live},
               "train_seconds": best.seconds, "data": data.report, **best.details}
    assert best.save is not None
    best.save(folder, {"task": task.name, "version": version, "labels": labels, "args": asdict(args),
                       "metrics": metrics, "fingerprint": fingerprint(labels, train_set, args),
                       "created_at": time.time()})
    confusion_png(folder / "confusion.png", cand["confusion"], labels, f"{task.name} v{version} (held-out)")
    store.add_version(task.name, version, str(folder), "candidate", metrics, reason, run_id, best.int8)
    if promote:
        store.promote(task.name, version, reason)
    else:
        store.set_version_status(task.name, version, "rejected", reason)
    verdict = "promoted" if promote else "rejected"
    message = f"{task.name} v{version} ({best.rung}) {verdict}: {reason}"
    store.finish_run(run_id, "done", message)
    return {"version": version, "promoted": promote, "reason": reason, "metrics": metrics, "folder": str(folder)}


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
    """Per task: the model in service, its held-out score, the corrections made since the last training run, and
    how many corrections agree with the task's automatic (taxonomy) labels, as ``(agreeing, compared)``."""
    serving = store.serving()
    out = []
    for task in settings.tasks:
        row = serving.get(task.name)
        holdout = row["metrics"].get("holdout", {}) if row else {}
        out.append({"task": task.name, "version": f"v{row['version']}" if row else "zero-shot",
                    "int8": bool(row and row["int8"]), "metric": holdout.get("metric", task.metric),
                    "score": holdout.get("score"),
                    "waiting": store.count_corrections_since(task.name, store.last_run_at(task.name)),
                    "auto_agreement": store.auto_label_agreement(task.name)})
    return out


def _version(store: Store, task: str, version: str) -> dict[str, Any]:
    number = version.lower().lstrip("v")
    if not number.isdigit():
        raise ServiceError(f"`{version}` is not a version: expected a number such as 3 or v3")
    found = [v for v in store.versions(task) if v["version"] == int(number)]
    if not found:
        raise ServiceError(f"task `{task}` has no version {number}; see `lookout models list`")
    return found[0]


def promote(store: Store, settings: Settings, task: str, version: str, user: str) -> dict[str, Any]:
    """Put a registered version in service by hand, after checking that it loads and fits the task's labels."""
    spec = task_spec(settings, task)
    row = _version(store, task, version)
    try:
        open_version(spec, row["path"], f"v{row['version']}", settings.model.embedding, device="cpu")
    except ModelLoadError as exc:
        store.set_version_status(task, row["version"], "broken", str(exc))
        raise ServiceError(f"refused: {exc}") from None
    store.promote(task, row["version"], f"promoted by hand by {user}")
    return row


def rollback(store: Store, settings: Settings, task: str, user: str) -> dict[str, Any] | None:
    """Serve the version that served before the current one (or zero-shot when there was none); returns it."""
    task_spec(settings, task)
    current = store.serving().get(task)
    if current is None:
        raise ServiceError(f"task `{task}` is served zero-shot already; nothing to roll back")
    earlier = [v for v in store.versions(task) if v["status"] == "retired" and v["promoted_at"]
               and v["version"] < current["version"]]
    store.set_version_status(task, current["version"], "rolled back", f"rolled back by {user}")
    if not earlier:
        return None
    previous = max(earlier, key=lambda v: v["promoted_at"])
    store.promote(task, previous["version"], f"rolled back to by {user}")
    return previous


def remove_unfinished(folder: Path) -> None:
    """Delete the folder of a run that failed for good (it has no meta.json); finished versions are kept."""
    if folder.is_dir() and not (folder / registry.META).exists():
        shutil.rmtree(folder, ignore_errors=True)
