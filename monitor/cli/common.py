"""What the commands share: loading the settings for a command, the console notifier, and table formatting."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tabulate import tabulate

from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.ingest.text import neutral
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.taxonomy import workflow

if TYPE_CHECKING:
    from monitor.daemon.notify import Notifier

NotifierFactory = Callable[[Settings, Callable[[str], None]], "Notifier"]
CommandAdder = Callable[..., argparse.ArgumentParser]


def console_notifier(settings: Settings, write: Callable[[str], None]) -> Notifier:
    from monitor.daemon.notify import ConsoleNotifier

    return ConsoleNotifier(write, color=settings.console.color)


def demo_file(name: str) -> Path:
    return Path(str(resources.files("monitor") / "demo" / name))


def load_cli_settings(args: argparse.Namespace, *, creates_store: bool = False) -> Settings:
    """Settings from ``--config`` (or $LOOKOUT_CONFIG, or ./lookout.toml) with ``--db`` applied and the tasks
    accepted from taxonomies (stored in the database) added. A store that does not exist is refused unless the
    command ``creates_store`` (a command that only reads would otherwise show an empty store it made)."""
    path = args.config
    if path is None and Path("lookout.toml").is_file():
        path = "lookout.toml"
    overrides = {"store": {"path": args.db}} if getattr(args, "db", None) else {}
    settings = load_settings(path, overrides=overrides)
    if not Path(settings.store.path).is_file():
        if not creates_store:
            raise ServiceError(_missing_store(settings.store.path, args, path))
        return settings
    with Store(settings.store.path) as store:
        return workflow.with_stored_tasks(settings, store)


def _missing_store(path: str, args: argparse.Namespace, config: str | None) -> str:
    if getattr(args, "db", None):
        origin = "from --db"
    elif "LOOKOUT_STORE_PATH" in os.environ:
        origin = "from $LOOKOUT_STORE_PATH"
    elif config:
        origin = f"store.path of {config}"
    else:
        origin = "the default store.path; no --config and no ./lookout.toml"
    return (f"no store at {Path(path).absolute()} ({origin}). Run `lookout demo` to make a sample one (then pass "
            "`-c lookout-demo.toml`, the settings it ran with), or `lookout run` or `lookout import` to collect into "
            "this one")


def table(rows: Iterable[Iterable[object]], **options: Any) -> str:
    """``tabulate`` with every text cell made ``neutral`` (one line, nothing hidden), as cells may come from items."""
    return tabulate([[neutral(x) if isinstance(x, str) else x for x in row] for row in rows], **options)


def when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "never"
