"""`lookout train`: a training run (or a hyper-parameter search) in the foreground, or queued."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from pathlib import Path
from typing import Any

from tqdm import tqdm

from monitor.cli.commands.models import progress
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table
from monitor.config.schema import Settings
from monitor.learning import runs
from monitor.service import ServiceError
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("train", cmd_train, "Fine-tune a task's classifier now, with a progress bar; the new version serves "
                                    "only if it beats the model in service.")
    p.add_argument("task", nargs="?", help="the task (default: every task)")
    p.add_argument("--epochs", type=int, default=0, help="override training.epochs for this run (with --search: "
                                                          "the most epochs a trial may take)")
    p.add_argument("--search", type=int, default=0, metavar="N",
                   help="instead of training, run N trials of a hyper-parameter search (Optuna) on the training and "
                        "validation splits, record them, and print the best parameters as [training] lines")
    p.add_argument("--request", action="store_true", help="only queue the run for the running daemon")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who asks (default: $USER)")


def cmd_train(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    if args.epochs:
        settings = dataclasses.replace(settings, training=dataclasses.replace(settings.training, epochs=args.epochs))
    if args.search:
        return _search(settings, args)
    with Store(settings.store.path) as store:
        queued = runs.request_retrain(store, settings, args.task, "cli", args.user, start=not args.request)
        if args.request:
            for task, run_id, new in queued:
                print(f"training run #{run_id} of {task} {'requested' if new else 'was already waiting'}; a running "
                      "daemon starts it within seconds")
            return 0
        busy = [f"{task} (run #{run_id})" for task, run_id, new in queued if not new]
        if busy:
            raise ServiceError(f"a training run is already waiting or running for {', '.join(busy)}; see "
                               "`lookout models list`")
        failed = 0
        for task, run_id, _new in queued:
            failed += train_in_foreground(store, settings, task, run_id)
    return 1 if failed else 0


def _search(settings: Settings, args: argparse.Namespace) -> int:
    from monitor.learning import tuning

    if not args.task or args.request or args.search < 0:
        raise ServiceError("--search N needs one TASK and N >= 1, and runs here (not with --request)")
    with Store(settings.store.path) as store:
        try:
            with tqdm(total=args.search, desc=f"searching {args.task}", unit="trial", dynamic_ncols=True) as bar:
                def show(done: int, best: float | None) -> None:
                    bar.update(done - bar.n)
                    if best is not None:
                        bar.set_postfix(best=f"{best:.3f}")

                record = tuning.tune(store, settings, args.task, args.search, on_trial=show)
        except runs.LearningError as exc:
            print(f"{args.task}: search failed: {exc}", file=sys.stderr)
            return 1
    print(tuning.describe(record))
    return 0


def train_in_foreground(store: Store, settings: Settings, task: str, run_id: int) -> int:
    from monitor.learning import job

    with tqdm(desc=f"training {task}", unit="step", dynamic_ncols=True) as bar:
        def show(state: dict) -> None:
            if "steps" in state:
                bar.total = state["steps"]
                bar.n = state["step"]
                bar.set_postfix(epoch=f"{state['epoch']}/{state['epochs']}", loss=state["loss"])
                bar.refresh()
            bar.set_description(f"{progress(state)} {task}" if "steps" not in state else
                                f"{state.get('rung', 'fine-tuned')} {task}")

        outcome = job.execute(store, settings, run_id, on_progress=show)
    if outcome is None:
        run = store.run(run_id)
        print(run.message if run else "training failed", file=sys.stderr)
        return 1
    m = outcome["metrics"]
    cv = any("cv" in r for r in m["ladder"].values())
    print(table([[name, "" if r.get("holdout") is None else f"{r['holdout']:.3f}",
                  *([f"{r['cv']:.3f}" if "cv" in r else ""] if cv else []),
                  "" if "seconds" not in r else f"{r['seconds']:.1f}", _note(r)]
                 for name, r in m["ladder"].items()],
                headers=["rung", f"held-out {m['holdout']['metric']}", *(["cross-validated"] if cv else []),
                         "train s", "note"]))
    print(f"{task} v{outcome['version']} ({m['rung']}): held-out {m['holdout']['metric']} "
          f"{m['holdout']['score']:.3f} (accuracy {m['holdout']['accuracy']:.3f}) against "
          f"{m['serving']['holdout']['score']:.3f} for {m['serving']['version']}; {m['train_seconds']:.0f} s")
    if m.get("int8_agreement") is not None:
        print(f"int8 agrees with fp32 on {m['int8_agreement']:.1%} of the held-out set")
    print(f"{'PROMOTED' if outcome['promoted'] else 'REJECTED'}: {outcome['reason']}")
    print(f"confusion matrix: {Path(outcome['folder']) / 'confusion.png'}")
    return 0


def _note(rung: dict[str, Any]) -> str:
    """Why a rung was not trained or cross-validated, or the held-out score of the refit that serves."""
    if "refit_holdout" in rung:
        return f"refit on training + validation: held-out {rung['refit_holdout']:.3f}"
    return str(rung.get("skipped", rung.get("cv_skipped", "")))
