"""`lookout label` and `lookout labels import`: correct one item, or import labelled texts."""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

from monitor import service
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings
from monitor.config.schema import Settings
from monitor.learning import runs
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.taxonomy import workflow


def add(command: CommandAdder) -> None:
    p = command("label", cmd_label, "Correct an item's label (the correction is kept for retraining).")
    p.add_argument("item", help="item id, or its first six or more characters")
    p.add_argument("label", help="the right label")
    p.add_argument("--task", help="the task, when several tasks have that label")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who corrects (default: $USER)")
    p = command("labels", cmd_labels, "Import labelled texts (JSONL or CSV) as training data for a task.")
    p.add_argument("action", choices=["import"])
    p.add_argument("file", help="a .jsonl file (one object per line) or a .csv file with a header row")
    p.add_argument("--task", required=True, help="the task the labels belong to")
    p.add_argument("--create", action="store_true", help="create the task from the file's labels when there is no "
                                                         "such task (labels: lower-case letters, digits, - and _)")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who creates the task (default: $USER)")
    p.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    p.add_argument("--label-field", default="label", help="field holding the label (default: label)")
    p.add_argument("--split-field", default="split",
                   help="optional field naming the split: train, val or test (test rows join the held-out set; "
                        "default: split)")


def cmd_label(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        done = service.correct(store, settings, args.item, args.label, args.user, "cli", args.task)
    was = "confirmed" if done.old_label == done.new_label else f"was {done.old_label or 'unlabelled'}"
    print(f"{done.item_id[:10]} {done.title[:60]!r}: {done.task} = {done.new_label} ({was}), by {done.user}")
    return 0


def cmd_labels(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args, creates_store=True)
    rows = _read_labelled(Path(args.file))
    if args.create and args.task not in {t.name for t in settings.tasks}:
        settings = _create_task(settings, args.task, rows, args.label_field, args.user)
    spec = runs.task_spec(settings, args.task)
    problems, good = [], []
    for row in rows:
        text, label = str(row.get(args.text_field) or "").strip(), str(row.get(args.label_field) or "").strip()
        split = str(row.get(args.split_field) or "").strip().lower()
        split = {"validation": "val", "dev": "val", "holdout": "test"}.get(split, split)
        if not text or not label:
            problems.append(f"line {row['_line']}: needs `{args.text_field}` and `{args.label_field}`")
        elif label not in spec.label_names:
            problems.append(f"line {row['_line']}: `{label}` is not a label of {spec.name} "
                            f"({', '.join(spec.label_names)})")
        elif split not in ("", "train", "val", "test"):
            problems.append(f"line {row['_line']}: split `{split}` is not train, val or test")
        else:
            good.append((text, label, split))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ServiceError(f"{args.file}: {len(problems)} bad rows, nothing was imported:\n  "
                           + "\n  ".join(problems[:5]) + more)
    with Store(settings.store.path) as store:
        n = store.import_examples(spec.name, good, Path(args.file).name)
    by_label = {name: sum(g[1] == name for g in good) for name in spec.label_names}
    print(f"imported {n} labelled texts for {spec.name}: " + ", ".join(f"{k} {v}" for k, v in by_label.items()))
    return 0


def _read_labelled(path: Path) -> list[dict]:
    """Rows of a JSONL or CSV file of labelled texts, with the line each came from."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return [{**row, "_line": n} for n, row in enumerate(csv.DictReader(f), start=2)]
    rows = []
    for n, line in enumerate(path.open(encoding="utf-8"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            raise ServiceError(f"{path}:{n}: not JSON ({reason}); nothing was imported") from None
        if not isinstance(row, dict):
            raise ServiceError(f"{path}:{n}: expected a JSON object; nothing was imported")
        rows.append({**row, "_line": n})
    return rows


def _create_task(settings: Settings, name: str, rows: list[dict], label_field: str, user: str) -> Settings:
    """Store task ``name`` with the labels found in ``rows`` (descriptions empty: zero-shot reads the names until
    they are described) and return the settings with it."""
    found = sorted({str(r.get(label_field) or "").strip() for r in rows} - {""})
    workflow.check_name(name)
    for label in found:
        workflow.check_name(label)
    if len(found) < 2:
        raise ServiceError(f"a task needs at least two labels; {len(found)} found in field `{label_field}`")
    with Store(settings.store.path) as store:
        store.save_task(name, [{"name": x, "description": ""} for x in found], "macro_f1", "labels import", user)
        print(f"created task {name} with {len(found)} labels: {', '.join(found[:10])}"
              + (f" and {len(found) - 10} more" if len(found) > 10 else ""))
        return workflow.with_stored_tasks(settings, store)
