"""`lookout models`: versions and training runs, promotion by hand, roll-back."""

from __future__ import annotations

import argparse
import os

from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table, when
from monitor.config.schema import Settings
from monitor.learning import runs
from monitor.learning.runs import minutes
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.store.learning_rows import Version


def add(command: CommandAdder) -> None:
    p = command("models", cmd_models, "List model versions and training runs, promote a version, or roll back.")
    p.add_argument("action", choices=["list", "promote", "rollback"])
    p.add_argument("task", nargs="?", help="the task")
    p.add_argument("version", nargs="?", help="promote: the version (3 or v3)")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who does it (default: $USER)")


def cmd_models(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        if args.action == "list":
            _print_models(store, settings, args.task)
        elif args.action == "promote":
            if not args.task or not args.version:
                raise ServiceError("expected `models promote TASK VERSION`")
            row = runs.promote(store, settings, args.task, args.version, args.user)
            print(f"{args.task} v{row.version} is now in service (a running daemon swaps it in within seconds)")
        else:
            if not args.task:
                raise ServiceError("expected `models rollback TASK`")
            previous = runs.rollback(store, settings, args.task, args.user)
            now = f"v{previous.version}" if previous else "the zero-shot classifier"
            print(f"{args.task} is now served by {now}")
    return 0


def _print_models(store: Store, settings: Settings, task: str | None) -> None:
    if task:
        runs.task_spec(settings, task)
    serving = store.serving()
    for spec in settings.tasks:
        if task and spec.name != task:
            continue
        row = serving.get(spec.name)
        agree, compared = store.auto_label_agreement(spec.name)
        print(f"{spec.name}: served by {'v' + str(row.version) if row else 'zero-shot'}"
              + (f" ({row.metrics.get('rung', 'fine-tuned')}{', int8' if row.int8 else ''})" if row else "")
              + (f"; automatic labels agree with {agree} of {compared} corrections ({agree / compared:.0%})"
                 if compared else ""))
    versions = store.versions(task)
    if versions:
        print()
        print(table([[v.task, f"v{v.version}", v.metrics.get("rung", "fine-tuned"), v.status,
                        v.metrics.get("holdout", {}).get("metric", ""),
                        f"{v.metrics.get('holdout', {}).get('score', 0):.3f}", _rung_score(v, "zero-shot"),
                        f"{v.metrics.get('serving', {}).get('holdout', {}).get('score', 0):.3f}",
                        when(v.created_at), v.reason[:70]] for v in versions],
                      headers=["task", "version", "rung", "status", "metric", "held-out", "zero-shot",
                               "in service then", "trained (UTC)", "reason"]))
    recent = store.runs(task, limit=5)
    if recent:
        print()
        print(table([[f"#{r.id}", r.task, r.status, r.via, when(r.created_at),
                      (r.message or progress(r.progress))[:80]] for r in recent],
                    headers=["run", "task", "status", "asked by", "asked (UTC)", "outcome"]))


def _rung_score(version: Version, rung: str) -> str:
    """A rung's held-out score in the run that made ``version`` (blank for runs before the ladder)."""
    found = version.metrics.get("ladder", {}).get(rung, {}).get("holdout")
    return "" if found is None else f"{found:.3f}"


def progress(state: dict) -> str:
    estimate = f" (at most about {minutes(state['estimate_seconds'])})" if "estimate_seconds" in state else ""
    if "steps" in state:
        return f"{state.get('rung', 'fine-tuned')} epoch {state['epoch']}/{state['epochs']}, step " \
               f"{state['step']}/{state['steps']}{estimate}"
    return " ".join(str(state[k]) for k in ("phase", "rung") if k in state) + estimate
