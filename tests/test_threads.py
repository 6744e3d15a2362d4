"""Follow-up alerts in threads, through the real daemon, the Slack notifier and the recording fake Slack: the
first alert about a topic in a channel is posted at the top level, later ones in its thread, and the first
message's count is redrawn in place (``chat.update``), also across restarts."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from models.embedding import Encoder
from tests.daemon_helpers import append, config, deliver, story
from tests.fake_slack import FakeSlack


@pytest.fixture(scope="module")
def encoder(tiny_model: str) -> Encoder:
    return Encoder(tiny_model)


def texts(blocks: list[dict[str, Any]]) -> str:
    return json.dumps(blocks)


async def test_follow_up_alerts_go_into_the_first_alerts_thread_and_its_count_is_updated_in_place(
        tmp_path: Path, tiny_model: str, slack: FakeSlack, encoder: Encoder) -> None:
    cfg = config(tmp_path, tiny_model, slack)
    append(cfg, story("a1", "a2", "a3"))
    await deliver(cfg, encoder)
    root, *followers = slack.calls["chat.postMessage"]
    root_ts = "1700000001.000100"
    assert "thread_ts" not in root and "(1 item)" in texts(root["blocks"])
    assert [p.get("thread_ts") for p in followers] == [root_ts, root_ts]
    updates = slack.calls["chat.update"]
    assert [(u["channel"], u["ts"]) for u in updates] == [("C0LOOK", root_ts)] * 2
    assert "(3 items)" in texts(updates[-1]["blocks"])
    assert updates[-1]["blocks"][-1]["elements"][0]["text"] == ":thread: 2 more alerts about this topic in the thread"
    assert "(1 item)" not in texts(updates[-1]["blocks"]) and len(slack.messages) == 3
    db = sqlite3.connect(tmp_path / "lookout.db")
    assert db.execute("select posted_channel, ts, thread_ts from alerts order by id").fetchall() == [
        ("C0LOOK", root_ts, ""), ("C0LOOK", "1700000002.000100", root_ts), ("C0LOOK", "1700000003.000100", root_ts)]


async def test_with_thread_hours_zero_every_alert_is_posted_at_the_top_level(
        tmp_path: Path, tiny_model: str, slack: FakeSlack, encoder: Encoder) -> None:
    cfg = config(tmp_path, tiny_model, slack, "thread_hours = 0\n")
    append(cfg, story("b1", "b2"))
    await deliver(cfg, encoder)
    assert [p.get("thread_ts") for p in slack.calls["chat.postMessage"]] == [None, None]
    assert slack.calls["chat.update"] == []


async def test_threads_survive_a_restart_and_a_failed_redraw_is_made_good_at_the_next_start(
        tmp_path: Path, tiny_model: str, slack: FakeSlack, encoder: Encoder) -> None:
    cfg = config(tmp_path, tiny_model, slack)
    append(cfg, story("c1", "c2"))
    await deliver(cfg, encoder)
    root_ts = "1700000001.000100"
    correction = {"type": "context", "elements": [{"type": "mrkdwn", "text": ":pencil2: <@U0ADA> confirmed spam"}]}
    slack.messages["C0LOOK", root_ts]["blocks"].append(correction)

    slack.failing["chat.update"] = "internal_error"
    append(cfg, story("c3", "c4"))
    await deliver(cfg, encoder)
    posts = slack.calls["chat.postMessage"]
    assert [p.get("thread_ts") for p in posts] == [None, root_ts, root_ts, root_ts], "threaded after the restart"
    db = sqlite3.connect(tmp_path / "lookout.db")
    assert db.execute("select count, shown from threads").fetchall() == [(4, 2)]

    del slack.failing["chat.update"]
    redraws = len(slack.calls["chat.update"])
    await deliver(cfg, encoder)
    assert len(slack.calls["chat.postMessage"]) == 4, "nothing is posted again"
    [redraw] = slack.calls["chat.update"][redraws:]
    assert redraw["ts"] == root_ts and "(4 items)" in texts(redraw["blocks"])
    assert correction in redraw["blocks"], "the notes under the first alert are kept"
    assert redraw["blocks"][-1]["elements"][0]["text"] == ":thread: 3 more alerts about this topic in the thread"
    assert db.execute("select count, shown from threads").fetchall() == [(4, 4)]
    assert {s for (s,) in db.execute("select status from alerts")} == {"sent"}
