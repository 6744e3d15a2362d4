"""After ``lookout demo``: the settings it ran with kept beside its store, and the next commands printed so that
each works as printed (the way to start ``lookout`` from here, the settings file, a real item id)."""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import sys
from pathlib import Path

from monitor.config.dump import to_toml
from monitor.config.schema import Settings, TaskSettings
from monitor.store.db import Store

HEADER = """Written by `lookout demo`: the settings it ran with, beside its store, so that later commands given
`-c {name}` know the demo's tasks and rules. Copy it as a start for your own lookout.toml.
One setting is added: training.rungs = ["head"], so that `lookout train` takes seconds on a CPU; add
"fine-tuned" to train the transformer too (minutes)."""
DEMO_RUNGS = ("head",)
SPLITS = {"", "train", "val", "test", "validation", "dev", "holdout"}  # what `labels import` reads as a split


def settings_file(store_path: str) -> Path:
    """Where the demo keeps its settings: the store's path with ``.toml`` for its suffix."""
    store = Path(store_path)
    return store.with_name(store.name + ".toml") if store.suffix == ".toml" else store.with_suffix(".toml")


def keep_settings(settings: Settings) -> Path:
    """Write ``settings`` (with the store's and the replays' paths made absolute, and training.rungs set to
    ``DEMO_RUNGS``) to ``settings_file``."""
    target = settings_file(settings.store.path)
    kept = dataclasses.replace(
        settings, store=dataclasses.replace(settings.store, path=str(Path(settings.store.path).resolve())),
        sources={**settings.sources, "replays": tuple(dataclasses.replace(r, path=str(Path(r.path).resolve()))
                                                      for r in settings.replays)},
        training=dataclasses.replace(settings.training, rungs=DEMO_RUNGS))
    target.write_text(to_toml(kept, HEADER.format(name=target.name)), encoding="utf-8")
    return target


def lookout_command() -> str:
    """How to start this ``lookout`` from here: ``lookout`` when that is on PATH, else the path it was started by
    (``.venv/bin/lookout`` under ``make demo``), else ``python -m bot.cli``."""
    script = Path(sys.argv[0])
    found = shutil.which("lookout")
    if script.name != "lookout":
        return f"{shlex.quote(sys.executable)} -m bot.cli"
    return "lookout" if found and Path(found).resolve() == script.resolve() else shlex.quote(str(script))


def _labelled_task(settings: Settings) -> tuple[TaskSettings, str, bool] | None:
    """A task whose labels every line of a replayed file carries in its ``label`` field, that file, and whether
    its ``split`` field names splits that ``labels import`` takes."""
    for replay in settings.replays:
        labels, splits = set(), set()
        with Path(replay.path).open(encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    labels.add(row.get("label"))
                    splits.add(str(row.get("split") or "").lower())
        for task in settings.tasks:
            if labels and labels <= {x.name for x in task.labels}:
                return task, replay.path, splits <= SPLITS
    return None


def print_next_steps(store: Store, settings: Settings, config: Path) -> None:
    """The commands to try next on the demo's store, each runnable as printed."""
    lookout, c = lookout_command(), f"-c {shlex.quote(str(config))}"
    steps = [("the largest topics", f"topics {c}")]
    if settings.tasks:
        task, label = settings.tasks[0].name, settings.tasks[0].labels[0].name
        steps.append((f"the newest items labelled {label}", f"items {c} --task {task} --label {label}"))
        newest = store.items_with_label(task, None, 1)
        if newest:
            item = newest[0].item.id
            given = next(x.label for x in store.item_detail(item).labels if x.task == task)
            steps.append(("confirm an item's label, or give another: corrections train the next model",
                          f"label {item[:10]} {given} --task {task} {c}"))
    labelled = _labelled_task(settings)
    if labelled:
        task_settings, path, splits = labelled
        ignore = "" if splits else " --split-field none"  # its `split` field holds no train/val/test split
        steps.append(("the stream's own labels as training data",
                      f"labels import {shlex.quote(path)} --task {task_settings.name}{ignore} {c}"))
        steps.append((f"train the {task_settings.name} classifier on them", f"train {task_settings.name} {c}"))
    print(f"\nThe demo's settings are in {config} (its store: {settings.store.path}). Next:")
    for what, args in steps:
        print(f"  {lookout} {args}\n      {what}")
    script = Path(sys.argv[0])
    if lookout != "lookout" and (script.parent / "activate").is_file():
        print(f"(`source {shlex.quote(str(script.parent / 'activate'))}` puts `lookout` on PATH)")
