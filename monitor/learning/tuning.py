"""Hyper-parameter search for a task's classifier: an Optuna study over the training options.

Each trial fine-tunes on the task's training split (augmented as a training run would be) and is scored on its
validation split with the task's metric; the held-out set stays untouched for the gate. The TPE sampler is seeded
with ``training.seed`` and every trial trains with that seed, so the same data and settings give the same study. A
median pruner stops a trial whose validation score from its second epoch on is below the median of the finished
trials at the same epoch. The study and every trial are recorded in the store.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from models.classifier import TaskSpec
from models.finetune import Example, Progress, TrainArgs, TrainingError, base_layers, train
from monitor.config.schema import Settings
from monitor.learning.data import TrainingData, check_enough, gather, train_args, train_split
from monitor.learning.runs import LearningError, task_spec
from monitor.store.db import Store
from monitor.store.learning_rows import Search

if TYPE_CHECKING:
    import optuna

LEARNING_RATE_SPAN = 10.0  # the learning rate ranges this far either side of training.learning_rate
BATCH_SIZES = (8, 16, 32)
PARAMS = ("learning_rate", "epochs", "freeze_layers", "batch_size", "class_weighting")


def _objective(settings: Settings, task: TaskSpec, data: TrainingData, train_set: list[Example], base: TrainArgs,
               layers: int) -> Callable[[optuna.Trial], float]:
    """A trial: parameters drawn from the search space, fine-tuned on ``train_set``, its best validation score
    returned; each epoch's score is reported so the pruner can stop it."""
    import optuna

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("learning_rate", base.learning_rate / LEARNING_RATE_SPAN,
                                 base.learning_rate * LEARNING_RATE_SPAN, log=True)
        params = {"learning_rate": float(f"{lr:.3g}"),
                  "epochs": trial.suggest_int("epochs", 1, settings.training.epochs),
                  "freeze_layers": trial.suggest_int("freeze_layers", 0, layers),
                  "batch_size": trial.suggest_categorical("batch_size", BATCH_SIZES),
                  "class_weighting": trial.suggest_categorical("class_weighting", (True, False))}
        trial.set_user_attr("params", params)

        def progress(p: Progress) -> None:
            if p.val_score is not None:
                trial.report(p.val_score, p.epoch)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        try:
            result = train(task.label_names, train_set, data.val, dataclasses.replace(base, **params),
                           device=settings.training.device, progress=progress)
        except TrainingError as exc:
            raise LearningError(str(exc)) from exc
        return result.best_score

    return objective


def _recorder(store: Store, search_id: int, on_trial: Callable[[int, float | None], None] | None
              ) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """An Optuna callback that records each finished trial in the store and tells ``on_trial``."""
    import optuna

    def record(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        score = trial.value if trial.value is not None else max(trial.intermediate_values.values(), default=None)
        seconds = trial.duration.total_seconds() if trial.duration else 0.0
        store.add_trial(search_id, trial.number, trial.user_attrs["params"], score, trial.state.name.lower(),
                        round(seconds, 1))
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if on_trial:
            on_trial(len(study.trials), max((t.value for t in done if t.value is not None), default=None))

    return record


def tune(store: Store, settings: Settings, task_name: str, trials: int,
         on_trial: Callable[[int, float | None], None] | None = None) -> Search:
    """Run a study of ``trials`` trials for ``task_name`` and return it as recorded (``Store.search``).

    The search space: learning rate log-uniform within a factor ``LEARNING_RATE_SPAN`` of ``training.learning_rate``
    (3 significant digits; 1e-5 to 1e-3 by default), epochs from 1 to ``training.epochs``, frozen layers from 0 to
    all of the base's, batch size from ``BATCH_SIZES``, class weighting on or off. ``on_trial(trials done, best
    score so far)`` follows each trial. Raises ``LearningError`` when the task has too few labels, as training does.
    """
    import optuna

    task = task_spec(settings, task_name)
    data = gather(store, settings, task, since=0.0)
    check_enough(data, task, settings)
    train_set = train_split(data, settings)
    base = train_args(settings, task.name)
    try:
        layers = base_layers(base.base)
    except TrainingError as exc:
        raise LearningError(str(exc)) from exc
    search_id = store.add_search(task.name, base.metric, trials, data.report)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=base.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=2))
    try:
        study.optimize(_objective(settings, task, data, train_set, base, layers), n_trials=trials,
                       callbacks=[_recorder(store, search_id, on_trial)])
    except BaseException as exc:
        store.finish_search(search_id, "failed", f"{type(exc).__name__}: {exc}")
        raise
    best = study.best_trial
    store.finish_search(search_id, "done", "", best.number, best.user_attrs["params"], best.value)
    record = store.search(search_id)
    if record is None:
        raise LearningError(f"search #{search_id} is not in the store")
    return record


def toml_lines(params: dict[str, Any]) -> list[str]:
    """The ``[training]`` section of lookout.toml that puts ``params`` in service."""
    return ["[training]", *(f"{key} = {str(value).lower() if isinstance(value, bool) else repr(value)}"
                            for key, value in params.items())]


def describe(record: Search) -> str:
    """A recorded study as text: every trial, the best one, and the lines that put its parameters in service."""
    d, metric = record.data, record.metric
    rows = [["*" if t.number == record.best_trial else "", t.number, t.state,
             "" if t.score is None else f"{t.score:.3f}", f"{t.params['learning_rate']:.3g}",
             *(t.params[key] for key in PARAMS[1:]), f"{t.seconds:.0f}"] for t in record.trials]
    augmented = f" (with {d['augmented']} augmented)" if d["augmented"] else ""
    return "\n".join([
        f"search #{record.id} of {record.task}: {len(record.trials)} trials, each trained on {d['train']} "
        f"examples{augmented} and scored by validation {metric} on {d['val']}",
        "",
        tabulate(rows, headers=["best", "trial", "state", f"val {metric}", *PARAMS, "seconds"]),
        "",
        f"best: trial {record.best_trial}, validation {metric} {record.best_score:.3f}. To train with these "
        "parameters, copy these lines into lookout.toml (replacing these keys in its [training] section):",
        "",
        *toml_lines(record.best_params or {}),
    ])
