"""`lookout status`: sources and their health, counts of items, labels and alerts."""

from __future__ import annotations

import argparse
import json

from monitor.cli.commands.models import progress
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table, when
from monitor.config.schema import Settings
from monitor.ingest.text import neutral
from monitor.store.db import Store


def add(command: CommandAdder) -> None:
    p = command("status", cmd_status, "Show sources and their health, counts of items, labels and alerts.")
    p.add_argument("--json", action="store_true", help="print the status as JSON")


def cmd_status(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        status = {**store.status(settings.time.timezone), "unknown_alerts": [
            {"rule": a.rule, "channel": a.channel, "created_at": a.created_at, "title": a.title, "item_id": a.item_id}
            for a in store.unknown_alerts()]}
    if settings.workers.redis_url:
        from monitor.workers.report import workers_status

        status["workers"] = workers_status(settings.workers)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(f"store {settings.store.path}: {status['items']} items ({status['items_today']} today, "
          f"{status['pending']} waiting, {status['failed']} failed), {status['topics']} live topics, "
          f"{status['alerts_today']} alerts today")
    if status["alerts_by_status"]:
        print("alerts: " + ", ".join(f"{n} {s}" for s, n in sorted(status["alerts_by_status"].items())))
    if unknown := status["unknown_alerts"]:
        print(f"\n{len(unknown)} alert(s) may or may not have reached Slack: Lookout stopped while sending them or "
              "Slack did not answer, and does not resend them (check the channel)")
        print(table([[a["rule"], a["channel"], when(a["created_at"]), neutral(a["title"] or "")[:60],
                      a["item_id"][:10]] for a in unknown],
                    headers=["rule", "channel", "fired (UTC)", "title", "item"]))
    if status["sources"]:
        print()
        print(table([[s["name"], s["kind"], "failing" if s["failures"] else "ok", s["items_total"],
                      s["items_today"], when(s["last_success"]), neutral(s["last_error"] or "")[:60]]
                     for s in status["sources"]],
                    headers=["source", "kind", "health", "items", "today", "last success (UTC)", "last error"]))
    if status["labels"]:
        print()
        print_labels_rows(status["labels"])
    if "workers" in status:
        print_workers(status["workers"], settings.workers.redis_url)
    return 0


def print_workers(w: dict, url: str) -> None:
    """The workers ``[workers] redis_url`` names, with the batches waiting for one."""
    print()
    if w["redis"] != "ok":
        print(f"workers: Redis at {url} is unreachable: {neutral(w['error'])}")
        return
    print(f"workers: {w['batches_waiting']} batches waiting, {w['batches_held']} held by a worker")
    if w["workers"]:
        print(table([[x["name"], "alive" if x["alive"] else "gone", x["device"], x["batches"], x["items"], x["held"],
                      ", ".join(f"{t} {v}" for t, v in x["models"].items()), when(x["seen"]),
                      neutral(x["error"])[:80]] for x in w["workers"]],
                    headers=["worker", "state", "device", "batches", "items", "holding", "models",
                             "last seen (UTC)", "error"]))
    for x in w["workers"]:
        if run := x.get("training"):
            print(f"training: run #{run['run']} of {run['task']} on worker {x['name']} ({run.get('device', '')})"
                  f"{'' if x['alive'] else ', which stopped answering'}: {progress(run)}")
    if w.get("training_waiting"):
        print(f"training: {w['training_waiting']} run(s) waiting for a worker that trains (`lookout worker --train`)")


def print_labels_rows(rows: list[dict]) -> None:
    print(table([[r["task"], r["label"], r["n"], f"{r['confidence']:.2f}", r["unsure"]] for r in rows],
                headers=["task", "label", "items", "mean confidence", "unsure"]))


def print_labels(store: Store, settings: Settings) -> None:
    print()
    print_labels_rows(store.status()["labels"])
    for task, n, agree in store.label_agreement({t.name: [x.name for x in t.labels] for t in settings.tasks}):
        print(f"task {task!r} agrees with the stream's own labels on {agree}/{n} items ({agree / n:.0%})")
