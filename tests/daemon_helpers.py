"""Running the daemon in-process, as `lookout run` does: settings with one task and a rule that alerts on every
item, one run until idle (or until a condition holds), and a replay a test appends to, delivered to the fake Slack."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from bot.notifier import make_notifier
from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier, Notifier
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.store.db import Store
from tests.fake_slack import FakeSlack

RULES = """
[[tasks]]
name = "spam"
  [[tasks.labels]]
  name = "spam"
  description = "advertising"
  [[tasks.labels]]
  name = "ham"
  description = "discussion"

[[alerts]]
name = "everything"
kind = "keyword"
pattern = "."
cooldown_minutes = 0
"""
TOKEN = {"SLACK_BOT_TOKEN": "xoxb-test-token"}
STORY = {"title": "Mortgage rates fall again", "text": "Lenders cut their thirty year fixed mortgage rates again."}


def write_config(tmp_path: Path, tiny_model: str, extra: str) -> Path:
    """``lookout.toml`` in ``tmp_path``: a store ``lookout.db`` there, the tiny model, ``extra``, then RULES."""
    path = tmp_path / "lookout.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                    f"{extra}{RULES}")
    return path


def settings_for(tmp_path: Path, tiny_model: str, extra: str) -> Settings:
    return load_settings(write_config(tmp_path, tiny_model, extra), env={})


async def run(settings: Settings, encoder: Encoder, out: list[str], until_idle: bool = True,
              stop_when: object = None, notifier: Notifier | None = None) -> Daemon:
    """One run of the daemon over its own store, alerting to ``notifier`` (the console, into ``out``, if None);
    stopped once ``stop_when()`` holds when given."""
    store = Store(settings.store.path)
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder),
                    ConsoleNotifier(out.append, "never") if notifier is None else notifier, build_sources(settings))
    task = asyncio.create_task(daemon.run(until_idle=until_idle))
    if stop_when is not None:
        while not stop_when():  # type: ignore[operator]
            await asyncio.sleep(0.05)
        daemon.stop()
    await asyncio.wait_for(task, 60)
    store.close()
    return daemon


def config(tmp_path: Path, tiny_model: str, slack: FakeSlack, extra: str = "") -> Path:
    """Settings with a replay of ``stream.jsonl``, one task, and a rule that alerts on every item in #lookout
    (``extra`` goes into the ``[slack]`` table)."""
    (tmp_path / "stream.jsonl").touch()
    slack.channel_ids["#lookout"] = "C0LOOK"
    return write_config(tmp_path, tiny_model, f'[slack]\nbase_url = "{slack.base_url}"\nmessages_per_second = 1000\n'
                        f'{extra}[[replays]]\nname = "s"\npath = "{tmp_path / "stream.jsonl"}"\n')


def append(cfg: Path, rows: list[dict[str, Any]]) -> None:
    with (cfg.parent / "stream.jsonl").open("a") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def story(*ids: str) -> list[dict[str, Any]]:
    """Items with the same words (so one topic), each with its own id."""
    return [{"id": i, **STORY} for i in ids]


async def deliver(cfg: Path, encoder: Encoder) -> None:
    """One run of the daemon until idle, posting to the fake Slack, as `lookout run --until-idle` does."""
    settings = load_settings(cfg, env=TOKEN)
    await run(settings, encoder, [], notifier=make_notifier(settings, print))

