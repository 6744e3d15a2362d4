"""The App Home tab through the real Bolt app with signed requests and the recording fake Slack (which refuses views
over Block Kit's limits): the first-run guide for an empty store, the dashboard of a busy one, its search modal
(views.open -> view_submission -> views.update) and its digest button."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from bot import messages
from bot.home import Home
from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.store.db import Store
from tests.bot_helpers import Bot, event_body, served, signed
from tests.fake_slack import FakeSlack
from tests.servers import wait_for
from tests.slack_limits import view_errors
from tests.test_layout_alerts import daemon_alerts, sample_settings


def busy_home() -> Home:
    """A dashboard's worth of data, for tests that look at the tab's shape."""
    status = {"items": 3, "items_today": 3, "pending": 0, "topics": 1, "alerts_today": 0, "sources": [],
              "labels": []}
    return Home(first_run=False, status=status, schedule=messages.schedule_line("daily 08:00", "UTC", 0.0),
                topics="*Largest topics*", alerts=[], mutes=[], models=[])


async def open_home(bot: Bot, user: str = "U0ADA") -> dict[str, Any]:
    """Open the Home tab as ``user``; returns the view published."""
    before = len(bot.slack.calls["views.publish"])
    body = event_body({"type": "app_home_opened", "user": user, "channel": "D0ADA", "tab": "home"})
    assert (await bot.post(body, {**signed(body), "Content-Type": "application/json"}))[0] == 200
    await wait_for(lambda: len(bot.slack.calls["views.publish"]) > before)
    published = bot.slack.calls["views.publish"][-1]
    view = published["view"] if isinstance(published["view"], dict) else json.loads(published["view"])
    assert published["user_id"] == user and view["type"] == "home" and view_errors(view) == []
    return view


def shown(view: dict[str, Any]) -> str:
    return "\n".join(b["text"]["text"] for b in view["blocks"] if "text" in b)


async def test_an_empty_store_gets_the_first_run_guide_with_the_commands_to_get_going(tmp_path: Path,
                                                                                       slack: FakeSlack) -> None:
    store = Store(tmp_path / "empty.db")
    async with served(load_settings(None, env={}), store, slack) as empty:
        view = await open_home(empty)
    text = shown(view)
    assert text.startswith("Lookout\n*Welcome to Lookout.*")
    for step in ("*1. Watch something*\n`/lookout watch add <feed-url> [name]`", "*2. Sort what comes in*",
                 "`/lookout taxonomy`", "*3. Be told*", "`/lookout watch add keyword <regex>`",
                 "`/lookout digest schedule daily 08:00`"):
        assert step in text
    assert all(b["type"] != "actions" for b in view["blocks"]), "nothing to search or digest yet"
    store.close()


async def test_a_busy_store_gets_the_dashboard_with_alerts_mutes_schedule_and_models(
        tmp_path: Path, tiny_model: str, slack: FakeSlack) -> None:
    settings = sample_settings(tmp_path, tiny_model)
    store = await daemon_alerts(settings, Encoder(tiny_model), slack)
    topic = store.db.execute("select topic_id from items order by rowid limit 1").fetchone()[0]
    async with served(settings, store, slack) as busy:
        await busy.command(f"mute {topic}")
        await busy.command("digest schedule daily 08:00")
        await busy.command("subscribe keyword (?i)outage")
        view = await open_home(busy)
    [actions] = [b for b in view["blocks"] if b["type"] == "actions"]
    assert [(e["action_id"], e["text"]["text"]) for e in actions["elements"]] == \
        [("lookout_home_search", "Search…"), ("lookout_home_digest", "Today's digest")]
    text = shown(view)
    assert "Digest: daily 08:00 (Asia/Tokyo), next " in text and " 08:00 JST" in text
    recent = text.split("*Recent alerts*\n")[1].split("\n*")[0].splitlines()
    assert recent[0].startswith("• :busts_in_silhouette: Topic *") or recent[0].startswith("• :mag: Keyword rule")
    assert all(line.endswith("JST> (sent)") for line in recent)
    name = store.topic(topic).name
    assert f"*Muted topics*\n• *{name}* (#{topic})" in text
    assert "*Channel subscriptions*\n• <#" in text and "keyword `(?i)outage`" in text
    assert "`spam`: zero-shot" in text and not re.search(r"\b1 items", text)
    store.close()


async def test_the_search_modal_answers_in_place(bot: Bot) -> None:
    await bot.action({"action_id": "lookout_home_search", "type": "button", "block_id": "h", "action_ts": "1",
                      "value": "lookout_home_search"}, [])
    await wait_for(lambda: bot.slack.calls["views.open"])
    opened = bot.slack.calls["views.open"][0]["view"]
    modal = opened if isinstance(opened, dict) else json.loads(opened)
    assert modal["callback_id"] == "lookout_search" and view_errors(modal) == []
    status, refused = await bot.submit("lookout_search", modal["private_metadata"], {"query": "  "})
    assert status == 200 and refused["response_action"] == "errors" and set(refused["errors"]) == {"query"}
    _, answer = await bot.submit("lookout_search", modal["private_metadata"], {"query": "mortgage rates"})
    assert answer["response_action"] == "update" and view_errors(answer["view"]) == []
    assert shown(answer["view"]) == "Searching… “mortgage rates”"
    await wait_for(lambda: bot.slack.calls["views.update"], seconds=30)
    [update] = bot.slack.calls["views.update"]
    results = update["view"] if isinstance(update["view"], dict) else json.loads(update["view"])
    assert update["view_id"] == "V1" and view_errors(results) == []
    head, *rows = [b["text"]["text"] for b in results["blocks"]]
    assert head == "*Nearest to* “mortgage rates”" and len(rows) == 5
    assert all(" · `" in r and "similarity " in r for r in rows)


async def test_todays_digest_button_sends_the_digest_to_the_user(bot: Bot) -> None:
    await bot.action({"action_id": "lookout_home_digest", "type": "button", "block_id": "h", "action_ts": "1",
                      "value": "lookout_home_digest"}, [])
    await wait_for(lambda: bot.slack.calls["files.completeUploadExternal"], seconds=60)
    [post] = bot.slack.calls["chat.postMessage"]
    assert post["channel"] == "U0ADA" and post["text"].startswith("Lookout digest, ")
