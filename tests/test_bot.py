"""The Slack app served for real on 127.0.0.1, driven by signed requests exactly as Slack sends them, answering
through a recording fake of the Web API and of response_url."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import numpy as np
import pytest
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

from bot.app import build_app
from bot.blocks import alert_blocks
from bot.commands import Command, UsageError, intent, parse
from bot.notifier import slack_client
from bot.server import make_web_app
from models.embedding import Encoder
from monitor.alerts import Alert
from monitor.config import Settings, load_settings
from monitor.daemon import Daemon, build_pipeline, build_sources
from monitor.notify import ConsoleNotifier
from monitor.store import Store
from tests.servers import FakeSlack, sample_rows, serve, wait_for

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TASKS = """
[[tasks]]
name = "spam"
  [[tasks.labels]]
  name = "spam"
  [[tasks.labels]]
  name = "ham"
"""


def signed(body: str, secret: str = SECRET, age: float = 0.0) -> dict[str, str]:
    ts = str(int(time.time() - age))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature,
            "Content-Type": "application/x-www-form-urlencoded"}


class Bot:
    """The app on a free port, plus the store it reads and the fake Slack it answers through."""

    def __init__(self, url: str, store: Store, slack: FakeSlack) -> None:
        self.url, self.store, self.slack = url, store, slack
        self.items = [r["id"] for r in store.db.query("select id from items order by rowid")]

    async def post(self, body: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.url}/slack/events", data=body, headers=headers or signed(body)) as resp:
            text = await resp.text()
            return resp.status, json.loads(text) if text.startswith("{") else text

    async def command(self, text: str) -> tuple[int, Any]:
        return await self.post(urlencode({
            "token": "legacy", "team_id": "T0TEST", "channel_id": "C0ALERTS", "user_id": "U0ADA",
            "command": "/lookout", "text": text, "api_app_id": "A0APP", "response_url": self.slack.response_url,
            "trigger_id": "1.2.3"}))

    async def action(self, action: dict[str, Any], blocks: list[dict[str, Any]]) -> tuple[int, Any]:
        payload = {"type": "block_actions", "user": {"id": "U0ADA", "team_id": "T0TEST"},
                   "team": {"id": "T0TEST"}, "api_app_id": "A0APP", "channel": {"id": "C0ALERTS"},
                   "container": {"type": "message", "message_ts": "1700000001.000100", "channel_id": "C0ALERTS"},
                   "message": {"ts": "1700000001.000100", "text": "[spam-wave] alert", "blocks": blocks},
                   "response_url": self.slack.response_url, "trigger_id": "1.2.3", "actions": [action]}
        return await self.post(urlencode({"payload": json.dumps(payload)}))


@pytest.fixture
async def bot(tmp_path: Path, tiny_model: str, slack: FakeSlack) -> AsyncIterator[Bot]:
    data = tmp_path / "s.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in sample_rows(8)))
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f'[[replays]]\nname = "list"\npath = "{data}"\n{TASKS}')
    settings: Settings = load_settings(cfg, env={})
    encoder = Encoder(tiny_model)
    store = Store(settings.store.path)
    await Daemon(settings, store, build_pipeline(settings, store, encoder), ConsoleNotifier(lambda _: None, "never"),
                 build_sources(settings)).run(until_idle=True)
    store = Store(settings.store.path)
    app = build_app(settings, store, SECRET, slack_client("xoxb-test-token", slack.base_url), lambda: encoder.encode)
    runner, port = await serve(make_web_app(app))
    yield Bot(f"http://127.0.0.1:{port}", store, slack)
    await runner.cleanup()
    store.close()


@pytest.mark.parametrize(("text", "message"), [
    ("launch rockets", "I don't know `launch`"),
    ("topics many", "Usage: `/lookout topics [n]`"),
    ("topics 99", "Usage: `/lookout topics [n]`"),
    ("label abc", "Usage: `/lookout label <item> <label> [task]`"),
    ("search", "Usage: `/lookout search <words>`"),
    ("status now", "Usage: `/lookout status`"),
    ("retrain spam now", "Usage: `/lookout retrain [task]`"),
])
def test_bad_commands_say_what_was_expected(text: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse(text)
    assert message in str(err.value)
    assert parse("").name == "help" and parse("TOPICS 3").args == ("3",)


async def test_help_status_and_topics_answer_at_once(bot: Bot) -> None:
    status, answer = await bot.command("help")
    assert status == 200 and answer["response_type"] == "ephemeral" and "/lookout label" in answer["text"]
    _, answer = await bot.command("status")
    assert answer["text"].startswith("*8* items") and "`list` (replay)" in answer["text"]
    stored = bot.store.db.execute("select vector_sum from topics limit 1").fetchone()[0]
    vector = (-np.frombuffer(stored, dtype=np.float64)).tobytes()
    bot.store.db["topics"].insert_all([
        {"id": 800, "size": 50, "keywords": '["rockets", "launch"]', "name": "rockets / launch",
         "representatives": "[]", "vector_sum": vector, "alive": 1},
        {"id": 900, "size": 2, "keywords": '["rocket"]', "representatives": "[]", "vector_sum": vector, "alive": 1}])
    _, answer = await bot.command("topics 3")
    assert answer["text"].startswith("*Largest topics*\n• *#800 rockets / launch* (50 items · related: #900): "
                                     "rockets, launch")
    _, answer = await bot.command("dance")
    assert answer["text"].startswith("I don't know `dance`")


async def test_label_records_a_correction_and_bad_arguments_change_nothing(bot: Bot) -> None:
    item = bot.items[0]
    _, answer = await bot.command(f"label {item[:8]} ham")
    assert answer["text"].startswith("Recorded: *") and "is *ham* in `spam`" in answer["text"]
    [row] = bot.store.corrections()
    assert (row["item_id"], row["task"], row["new_label"], row["user"], row["via"]) == \
        (item, "spam", "ham", "U0ADA", "slack")
    assert bot.store.labels_of(item)["spam"] == "ham"
    for text, reason in [(f"label {item[:8]} eggs", "`eggs` is not a label"), ("label zzzzzzzz ham", "not an item id"),
                         ("label 000000 ham", "no item has an id starting with `000000`"),
                         (f"label {item[:8]} ham nosuchtask", "no task `nosuchtask`")]:
        _, answer = await bot.command(text)
        assert answer["text"].startswith(":warning:") and reason in answer["text"], text
    assert len(bot.store.corrections()) == 1


async def test_search_answers_after_the_ack_through_response_url(bot: Bot) -> None:
    _, answer = await bot.command("search mortgage rates")
    assert answer["text"] == "Searching…"
    await wait_for(lambda: bot.slack.responses)
    [reply] = bot.slack.responses
    assert reply["text"].startswith("*Nearest to* “mortgage rates”") and reply["text"].count("\n•") == 5


async def test_alert_menus_and_buttons_correct_the_label_and_update_the_message(bot: Bot) -> None:
    item = bot.items[1]
    current = bot.store.labels_of(item)["spam"]
    other = "ham" if current == "spam" else "spam"
    alert = Alert(rule="spam-wave", item_id=item, topic_id=1, cooldown_key="topic:1", channel="C0ALERTS",
                  created_at=1.0, reason="r", title="t", url="https://example.org/x", source="list", snippet="s",
                  labels=[["spam", current, 0.9, False]])
    blocks = alert_blocks(alert, {"spam": ["spam", "ham"]})
    [row] = [b for b in blocks if b["type"] == "actions"]
    menu = next(e for e in row["elements"] if e["type"] == "static_select")
    choice = next(o for o in menu["options"] if json.loads(o["value"])["l"] == other)
    status, _ = await bot.action({"action_id": menu["action_id"], "block_id": "b1", "type": "static_select",
                                  "selected_option": choice, "action_ts": "1"}, blocks)
    assert status == 200
    await wait_for(lambda: bot.slack.calls["chat.update"])
    [update] = bot.slack.calls["chat.update"]
    assert update["channel"] == "C0ALERTS" and update["ts"] == "1700000001.000100"
    note = update["blocks"][-1]["elements"][0]["text"]
    assert note == f":pencil2: <@U0ADA> set spam to {other} (was {current})"
    assert bot.store.labels_of(item)["spam"] == other
    confirm = next(e for e in row["elements"] if e["action_id"] == "lookout_confirm")
    await bot.action({**confirm, "block_id": "b1", "action_ts": "2"}, blocks)
    await wait_for(lambda: len(bot.slack.calls["chat.update"]) == 2)
    assert bot.slack.calls["chat.update"][1]["blocks"][-1]["elements"][0]["text"] == \
        f":pencil2: <@U0ADA> confirmed spam = {other}"
    assert [c["new_label"] for c in bot.store.corrections()] == [other, other]


async def test_forged_and_stale_requests_are_rejected(bot: Bot) -> None:
    body = urlencode({"command": "/lookout", "text": "label 000000 ham", "user_id": "U0EVE", "team_id": "T0TEST",
                      "channel_id": "C0", "response_url": bot.slack.response_url, "trigger_id": "1"})
    assert (await bot.post(body, signed(body, secret="wrong-secret")))[0] == 401
    assert (await bot.post(body, signed(body, age=6 * 60)))[0] == 401
    assert (await bot.post(body, {"Content-Type": "application/x-www-form-urlencoded"}))[0] == 401
    assert bot.store.corrections() == []


async def test_health_endpoint(bot: Bot) -> None:
    async with aiohttp.ClientSession() as http, http.get(f"{bot.url}/healthz") as resp:
        assert resp.status == 200 and await resp.json() == {"ok": True}




@pytest.mark.parametrize(("text", "expected"), [
    ("<@U0BOT> what's trending?", Command("topics")),
    ("anything about outages today?", Command("search", ("outages",))),
    ("search for mortgage rates", Command("search", ("mortgage", "rates"))),
    ("tell me a joke", Command("help")),
])
def test_mentions_and_direct_messages_are_understood(text: str, expected: Command) -> None:
    assert intent(text) == expected


def event_body(event: dict[str, Any]) -> str:
    return json.dumps({"token": "legacy", "team_id": "T0TEST", "api_app_id": "A0APP", "type": "event_callback",
                       "event_id": f"Ev{time.time_ns()}", "event_time": int(time.time()), "event": event})


async def test_a_mention_gets_an_answer_in_its_thread_and_nonsense_gets_help(bot: Bot) -> None:
    body = event_body({"type": "app_mention", "user": "U0ADA", "text": "<@U0BOT> anything about mortgage?",
                       "ts": "1700000002.000200", "channel": "C0ALERTS"})
    headers = {**signed(body), "Content-Type": "application/json"}
    assert (await bot.post(body, headers))[0] == 200
    await wait_for(lambda: bot.slack.calls["chat.postMessage"])
    [answer] = bot.slack.calls["chat.postMessage"]
    assert answer["thread_ts"] == "1700000002.000200" and answer["text"].startswith("*Nearest to* “mortgage”")
    body = event_body({"type": "message", "channel_type": "im", "user": "U0ADA", "text": "sing a song",
                       "ts": "1700000003.000300", "channel": "D0ADA"})
    await bot.post(body, {**signed(body), "Content-Type": "application/json"})
    await wait_for(lambda: len(bot.slack.calls["chat.postMessage"]) == 2)
    assert bot.slack.calls["chat.postMessage"][1]["text"].startswith("I didn't catch that.")


async def test_topic_shows_one_topic_and_mute_silences_it(bot: Bot) -> None:
    topic_id = bot.store.db.execute("select topic_id from items order by rowid limit 1").fetchone()[0]
    bot.store.db["topic_events"].insert({"kind": "split", "topic_id": topic_id, "other_id": 77, "size": 4,
                                         "at": 1_700_000_000.0})
    _, answer = await bot.command(f"topic #{topic_id}")
    assert answer["text"].startswith(f"*Topic #{topic_id}") and "in the last day" in answer["text"]
    assert answer["text"].endswith("_<!date^1700000000^{date_short} {time}|2023-11-14 22:13 UTC>: #77 split off it "
                                   "(4 items)_")
    _, answer = await bot.command("topic 99999")
    assert answer["text"] == ":warning: there is no topic #99999"
    _, answer = await bot.command(f"mute {topic_id}")
    assert answer["response_type"] == "in_channel" and answer["text"].startswith(f"Muted topic *#{topic_id}*")
    assert bot.store.muted() == {topic_id}


async def test_admins_and_channels_are_enforced_and_the_mute_button_works(bot: Bot, slack: FakeSlack) -> None:
    settings = load_settings(None, env={})
    strict = dataclasses.replace(settings, tasks=load_settings_tasks(), bot=dataclasses.replace(
        settings.bot, admins=("U0BOSS",), channels=("C0LOOKOUT",)))
    app = build_app(strict, bot.store, SECRET, slack_client("xoxb-test-token", slack.base_url), lambda: None)
    runner, port = await serve(make_web_app(app))
    strict_bot = Bot(f"http://127.0.0.1:{port}", bot.store, slack)
    topic_id = bot.store.db.execute("select topic_id from items order by rowid limit 1").fetchone()[0]
    _, answer = await strict_bot.command(f"mute {topic_id}")
    assert answer["text"] == "Only Lookout's admins may mute topics; ask one of them."
    _, answer = await strict_bot.command("retrain")
    assert answer["text"] == "Only Lookout's admins may ask for a retrain; ask one of them."
    assert bot.store.runs() == []
    slack.members = {"C0LOOKOUT": ["U0BOSS"], "C0TEAM": ["U0ADA"]}
    _, answer = await strict_bot.command(f"label {bot.items[0][:8]} ham")
    assert answer["text"] == "Corrections are accepted from members of Lookout's channels only."
    assert bot.store.muted() == set() and bot.store.corrections() == []
    await strict_bot.action({"action_id": "lookout_mute", "block_id": "b", "type": "button",
                             "value": json.dumps({"t": topic_id}), "action_ts": "1"}, [])
    await wait_for(lambda: slack.responses)
    assert slack.responses[0]["text"] == "Only Lookout's admins may mute topics; ask one of them."
    await runner.cleanup()
    team = dataclasses.replace(strict, bot=dataclasses.replace(strict.bot, channels=("C0LOOKOUT", "C0TEAM")))
    app = build_app(team, bot.store, SECRET, slack_client("xoxb-test-token", slack.base_url), lambda: None)
    runner, port = await serve(make_web_app(app))
    _, answer = await Bot(f"http://127.0.0.1:{port}", bot.store, slack).command(f"label {bot.items[0][:8]} ham")
    assert answer["text"].startswith("Recorded:") and len(bot.store.corrections()) == 1
    assert [c["channel"] for c in slack.calls["conversations.members"]] == ["C0LOOKOUT", "C0LOOKOUT", "C0TEAM"]
    await runner.cleanup()
    await bot.action({"action_id": "lookout_mute", "block_id": "b", "type": "button",
                      "value": json.dumps({"t": topic_id}), "action_ts": "2"}, [])
    await wait_for(lambda: slack.calls["chat.update"])
    assert slack.calls["chat.update"][0]["blocks"][-1]["elements"][0]["text"] == \
        f":mute: <@U0ADA> muted topic #{topic_id}"
    assert bot.store.muted() == {topic_id}


def load_settings_tasks() -> tuple:
    path = Path(tempfile.mkdtemp()) / "t.toml"
    path.write_text(TASKS)
    return load_settings(path, env={}).tasks


async def test_opening_app_home_publishes_the_dashboard(bot: Bot) -> None:
    await bot.command(f"label {bot.items[0][:8]} ham")
    body = event_body({"type": "app_home_opened", "user": "U0ADA", "channel": "D0ADA", "tab": "home"})
    assert (await bot.post(body, {**signed(body), "Content-Type": "application/json"}))[0] == 200
    await wait_for(lambda: bot.slack.calls["views.publish"])
    [published] = bot.slack.calls["views.publish"]
    view = published["view"] if isinstance(published["view"], dict) else json.loads(published["view"])
    text = json.dumps(view)
    assert published["user_id"] == "U0ADA" and view["type"] == "home"
    assert "*8* items" in text and "`spam`: zero-shot; 1 correction since the last training run" in text
    assert "Recent alerts" in text and len(view["blocks"]) <= 100


async def test_socket_mode_answers_envelopes_and_reconnects_after_a_drop(bot: Bot, slack: FakeSlack) -> None:
    settings = load_settings(None, env={})
    app = build_app(dataclasses.replace(settings, tasks=load_settings_tasks()), bot.store, "",
                    slack_client("xoxb-test-token", slack.base_url), lambda: None)
    handler = AsyncSocketModeHandler(app, "xapp-test-token", web_client=slack_client("xoxb-test-token",
                                                                                     slack.base_url))
    handler.client.ping_interval = 1
    await handler.connect_async()
    await wait_for(lambda: slack.socket_connections == 1)

    def envelope(n: int, text: str) -> dict[str, Any]:
        return {"envelope_id": f"env-{n}", "type": "slash_commands", "accepts_response_payload": True,
                "payload": {"token": "legacy", "team_id": "T0TEST", "channel_id": "C0ALERTS", "user_id": "U0ADA",
                            "command": "/lookout", "text": text, "api_app_id": "A0APP",
                            "response_url": slack.response_url, "trigger_id": "1.2.3"}}

    slack.envelopes.put_nowait(envelope(1, "help"))
    await wait_for(lambda: slack.acks)
    assert slack.acks[0]["envelope_id"] == "env-1" and "/lookout label" in slack.acks[0]["payload"]["text"]
    slack.envelopes.put_nowait(None)
    await wait_for(lambda: slack.socket_connections == 2)
    slack.envelopes.put_nowait(envelope(2, "status"))
    await wait_for(lambda: len(slack.acks) == 2)
    assert slack.acks[1]["envelope_id"] == "env-2" and slack.acks[1]["payload"]["text"].startswith("*8* items")
    await handler.close_async()


@pytest.mark.parametrize("text", ["watch", "watch dance", "watch add", "watch remove", "watch list all",
                                  "watch add keyword", "watch add a b c"])
def test_bad_watch_commands_say_what_was_expected(text: str) -> None:
    with pytest.raises(UsageError, match="Usage: `/lookout watch list`"):
        parse(text)


async def test_watch_adds_lists_and_removes_feeds_and_keyword_rules(bot: Bot) -> None:
    _, answer = await bot.command("watch add <https://blog.example.org/feed.xml> blog")
    assert answer["response_type"] == "in_channel"
    assert answer["text"] == ("Now watching feed `blog`: `https://blog.example.org/feed.xml` (live within "
                              "seconds).")
    _, answer = await bot.command("watch add keyword (?i)outage")
    assert "keyword rule `i-outage`" in answer["text"]
    _, answer = await bot.command("watch add ftp://nope")
    assert answer["text"] == ":warning: `ftp://nope` is not a feed URL: expected http:// or https://"
    _, answer = await bot.command("watch add https://other.example.org/rss blog")
    assert answer["text"] == ":warning: the name `blog` is taken; give another one"
    _, answer = await bot.command("watch list")
    assert "`list` (replay, config)" in answer["text"] and "`blog` (feed, by U0ADA)" in answer["text"]
    _, answer = await bot.command("watch remove list")
    assert answer["text"] == ":warning: `list` is set in the configuration file; remove it there"
    _, answer = await bot.command("watch remove blog")
    assert answer["text"] == "Stopped watching `blog`."
    assert [w["name"] for w in bot.store.watches()] == ["i-outage"]


async def test_trends_answers_with_rising_and_fading_topics(bot: Bot) -> None:
    _, answer = await bot.command("trends 12")
    rising, rest = answer["text"].split("\n*Fading*\n")
    fading, labels = rest.split("\n*Labels*\n")
    assert rising.startswith("*Rising over the last 12 h*\n• *#")
    assert "in the last bin (baseline 0.0" in rising, "all 8 items arrived just now, against an empty history"
    assert fading == "Nothing is fading."
    counts = dict(bot.store.db.execute("select label, count(*) from labels where task = 'spam' group by label"))
    assert labels.splitlines() == [f"• spam = {label}: {n} in the last bin (baseline 0.0, score {n:+.1f})"
                                   for label, n in sorted(counts.items(), key=lambda kv: -kv[1]) if n >= 2]
    _, answer = await bot.command("trends 999")
    assert answer["text"].startswith("Usage: `/lookout trends [hours]`")


async def test_retrain_queues_a_run_and_opens_the_thread_its_progress_follows(bot: Bot) -> None:
    _, answer = await bot.command("retrain eggs")
    assert answer["text"] == ":warning: no task `eggs`; tasks are: spam"
    _, answer = await bot.command("retrain")
    assert answer["text"].startswith("Queued: training starts within seconds")
    await wait_for(lambda: bot.store.runs() and bot.store.runs()[0]["thread"])
    [posted] = bot.slack.calls["chat.postMessage"]
    assert posted["channel"] == "C0ALERTS" and "Retraining `spam`, asked by <@U0ADA>" in posted["text"]
    [run] = bot.store.runs()
    assert (run["task"], run["status"], run["via"], run["requested_by"], run["channel"]) == \
        ("spam", "requested", "slack", "U0ADA", "C0ALERTS")
    assert run["thread"] == "1700000001.000100"
    _, answer = await bot.command("retrain spam")
    assert answer["text"] == f"A training run of `spam` (#{run['id']}) is already waiting or running."
    assert len(bot.store.runs()) == 1
    _, answer = await bot.command("status")
    assert "`spam`: zero-shot; 0 corrections since the last training run" in answer["text"]


async def test_an_answer_to_an_active_learning_question_is_a_correction(bot: Bot) -> None:
    from bot.blocks import question_blocks
    from monitor.notify import Question

    rows = bot.store.least_sure("spam", 0, 3)
    assert len(rows) == 3 and rows == sorted(rows, key=lambda r: r["margin"])
    blocks = question_blocks(Question("spam", ["spam", "ham"], rows, "C0ALERTS"))
    assert len(blocks) == 7 and [b["text"] for b in blocks[2]["elements"]] == \
        [{"type": "plain_text", "text": "spam"}, {"type": "plain_text", "text": "ham"}]
    button = blocks[2]["elements"][1]
    await bot.action({**button, "block_id": "q", "action_ts": "1"}, blocks)
    await wait_for(lambda: bot.slack.calls["chat.update"])
    [row] = bot.store.corrections()
    assert (row["item_id"], row["new_label"], row["via"]) == (rows[0]["item_id"], "ham", "slack")
    update = bot.slack.calls["chat.update"][0]
    note = (update["blocks"] if isinstance(update["blocks"], list) else json.loads(update["blocks"]))[-1]
    assert "<@U0ADA> " in note["elements"][0]["text"] and "ham" in note["elements"][0]["text"]


async def test_training_notes_thread_and_questions_are_posted_to_slack(slack: FakeSlack) -> None:
    from bot.notifier import SlackNotifier
    from monitor.notify import DeliveryError, Question

    notifier = SlackNotifier("xoxb-test-token", slack.base_url, per_second=100)
    thread = await notifier.note("Training run #1 of spam", "C0ALERTS", "")
    assert thread == "1700000001.000100"
    assert await notifier.note("epoch 1/5: <!channel> validation 0.8", "C0ALERTS", thread) == thread
    first, second = slack.calls["chat.postMessage"]
    assert "thread_ts" not in first and second["thread_ts"] == thread
    assert second["text"] == "epoch 1/5: &lt;!channel&gt; validation 0.8"
    item = {"item_id": "a" * 20, "title": "<@U123> win", "text": "x" * 5000, "url": "javascript:x", "label": "spam",
            "margin": 0.01}
    await notifier.ask(Question("spam", ["spam", "ham"], [item], "C0ALERTS"))
    text = json.dumps(slack.calls["chat.postMessage"][2]["blocks"])
    assert "lookout_answer:0:1" in text and "<@U123>" not in text and "javascript" not in text
    slack.unknown_channels.add("C0GONE")
    with pytest.raises(DeliveryError, match="channel_not_found") as err:
        await notifier.note("hello", "C0GONE", "")
    assert err.value.permanent
    await notifier.close()


async def test_a_taxonomy_is_proposed_reviewed_and_accepted_with_menus_and_modals(tmp_path: Path, tiny_model: str,
                                                                                  slack: FakeSlack) -> None:
    from bot.blocks import taxonomy_blocks
    from tests.test_taxonomy import stored_stream

    store, _ = stored_stream(tmp_path / "t.db")
    settings = load_settings(None, env={}, overrides={"store": {"path": str(tmp_path / "t.db")},
                                                      "model": {"embedding": tiny_model}})
    app = build_app(settings, store, SECRET, slack_client("xoxb-test-token", slack.base_url), lambda: None)
    runner, port = await serve(make_web_app(app))
    bot = Bot(f"http://127.0.0.1:{port}", store, slack)
    try:
        _, answer = await bot.command("taxonomy 99")
        assert answer["text"].startswith("Usage: `/lookout taxonomy [labels]`")
        _, answer = await bot.command("taxonomy 1")
        assert answer["text"].startswith("Proposing a taxonomy")
        await wait_for(lambda: slack.responses)
        assert slack.responses[-1]["text"] == ":warning: a taxonomy needs between 2 and 50 labels, not 1"
        await bot.command("taxonomy 3")
        await wait_for(lambda: store.proposal(1) and store.proposal(1)["ts"])
        [posted] = slack.calls["chat.postMessage"]
        blocks = json.loads(posted["blocks"]) if isinstance(posted["blocks"], str) else posted["blocks"]
        assert blocks[0]["text"]["text"] == "Taxonomy proposal #1: 3 labels" and len(blocks) == 5
        names = [x["name"] for x in store.proposal(1)["labels"]]

        def select(label_block: int, action: str) -> dict[str, Any]:
            menu = blocks[label_block]["accessory"]
            picked = next(o for o in menu["options"] if json.loads(o["value"])["a"] == action)
            return {**menu, "block_id": f"b{label_block}", "selected_option": picked, "action_ts": "1"}

        await bot.action(select(3, "merge"), blocks)
        await wait_for(lambda: slack.calls["chat.update"])
        assert [x["name"] for x in store.proposal(1)["labels"]] == names[:2]
        assert len(store.proposal(1)["labels"][0]["topics"]) + len(store.proposal(1)["labels"][1]["topics"]) >= 3

        await bot.action(select(1, "edit"), blocks)
        await wait_for(lambda: slack.calls["views.open"])
        view = slack.calls["views.open"][0]["view"]
        view = json.loads(view) if isinstance(view, str) else view
        assert view["callback_id"] == "lookout_tax_edit"

        async def submit(callback: str, metadata: str, values: dict[str, str]) -> tuple[int, Any]:
            payload = {"type": "view_submission", "team": {"id": "T0TEST"}, "user": {"id": "U0ADA"},
                       "api_app_id": "A0APP", "trigger_id": "1.2.3",
                       "view": {"id": "V1", "type": "modal", "callback_id": callback, "private_metadata": metadata,
                                "state": {"values": {k: {"value": {"type": "plain_text_input", "value": v}}
                                                     for k, v in values.items()}}}}
            return await bot.post(urlencode({"payload": json.dumps(payload)}))

        _, refused = await submit("lookout_tax_edit", view["private_metadata"], {"name": "Bad Name",
                                                                                   "description": "x"})
        assert refused["response_action"] == "errors" and "cannot be a label" in refused["errors"]["name"]
        status, _ = await submit("lookout_tax_edit", view["private_metadata"],
                                 {"name": "first", "description": "the first story"})
        assert status == 200
        assert store.proposal(1)["labels"][0] | {} == {**store.proposal(1)["labels"][0], "name": "first",
                                                        "description": "the first story"}

        _, refused = await submit("lookout_tax_accept", json.dumps({"p": 1}), {"task": "spam eggs"})
        assert refused["response_action"] == "errors"
        status, _ = await submit("lookout_tax_accept", json.dumps({"p": 1}), {"task": "theme"})
        assert status == 200
        await wait_for(lambda: len(slack.calls["chat.postMessage"]) == 2)
        reply = slack.calls["chat.postMessage"][1]
        assert reply["thread_ts"] == posted_ts(store) and "accepted the taxonomy as task `theme`" in reply["text"]
        assert [t["name"] for t in store.stored_tasks()] == ["theme"]
        [run] = store.runs()
        assert (run["task"], run["via"], run["thread"]) == ("theme", "taxonomy", posted_ts(store))
        final = taxonomy_blocks(store.proposal(1))
        assert final[0]["text"]["text"] == "Taxonomy proposal #1: 2 labels (accepted)"
        discard = {**blocks[-1]["elements"][1], "block_id": "a", "action_ts": "2"}
        answered = len(slack.responses)
        await bot.action(discard, blocks)
        await wait_for(lambda: len(slack.responses) > answered)
        assert slack.responses[-1]["text"] == ":warning: proposal #1 is accepted already"
        _, answer = await bot.command("label " + store.db.execute("select id from items limit 1").fetchone()[0][:10]
                                      + " first theme")
        assert "is *first* in `theme`" in answer["text"]
        slack.unknown_channels.add("C0ALERTS")
        answered = len(slack.responses)
        await bot.command("taxonomy 2")
        await wait_for(lambda: len(slack.responses) > answered)
        assert slack.responses[-1]["text"] == (":warning: proposal #2 is stored but could not be posted here "
                                               "(channel_not_found); invite the bot to this channel and ask again")
    finally:
        await runner.cleanup()
        store.close()


def posted_ts(store: Store) -> str:
    found = store.proposal(1)
    assert found is not None
    return found["ts"]


def test_a_proposal_with_more_labels_than_a_message_holds_says_how_many_are_hidden() -> None:
    from bot.blocks import SHOWN_LABELS, taxonomy_blocks

    labels = [{"name": f"label-{i}", "description": "d", "topics": [i], "size": 1} for i in range(SHOWN_LABELS + 5)]
    shown = taxonomy_blocks({"id": 7, "labels": labels, "status": "open"})
    assert len(shown) <= 50, "Slack refuses a message of more than 50 blocks"
    assert sum(1 for b in shown if b["type"] == "section") == SHOWN_LABELS
    assert shown[-2]["elements"][0]["text"].startswith("5 more labels are not shown")
