"""Hostile text from feeds against every rendering of item text: one table of strings (bidi controls, zero-width
characters, line breaks, terminal escape sequences, hidden mass mentions), each run through the console, the HTML
pages, Slack (through the fake Slack and signed slash commands), a taxonomy proposal file and the ``lookout`` command
on a real store.

Each rendering must keep the visible text readable, show no control, bidi or zero-width character (Slack keeps the
one zero-width space Lookout puts into ``@here``), and have as many lines as the rendering of a harmless string."""

from __future__ import annotations

import dataclasses
import html
import json
import re
import time
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bot import blocks, home, messages
from bot.app import build_app
from bot.notifier import SlackNotifier, slack_client
from bot.server import make_web_app
from models.classifier import Prediction
from models.embedding import Encoder
from models.topics import OnlineTopicModel
from monitor.config.load import load_settings
from monitor.daemon.notify import ConsoleNotifier, Question
from monitor.enrich.alerts import Alert
from monitor.enrich.pipeline import BatchResult, Enriched
from monitor.ingest.item import Item, make_id
from monitor.ingest.text import neutral, neutral_url
from monitor.reports import digest as digests
from monitor.reports import maps
from monitor.store.db import Store
from monitor.store.learning_rows import UnsureItem
from monitor.store.mutes import MuteRow
from monitor.store.outbox import SentAlert
from monitor.store.topics import TopicDetail, TopicRow
from monitor.taxonomy import workflow
from tests.bot_helpers import SECRET, TASKS, Bot
from tests.cli import lookout_here
from tests.fake_slack import FakeSlack
from tests.servers import serve, wait_for

HARMLESS = "plain story title"
HOSTILE = [
    pytest.param("invoice \u202egnp.exe", "invoice gnp.exe", id="right-to-left override"),
    pytest.param("\u202aleft\u202bright\u202cpop\u202doverride", "leftrightpopoverride", id="bidi embeddings"),
    pytest.param("\u2066isolate\u2067rtl\u2068first\u2069 strong", "isolatertlfirst strong", id="bidi isolates"),
    pytest.param("marks\u200e\u200f\u061c here", "marks here", id="bidi marks"),
    pytest.param("ad\u200bmi\u200cn\u200d\u2060\ufeff login", "admin login", id="zero-width characters"),
    pytest.param("pay\u00adpal\u00ad account", "paypal account", id="soft hyphens"),
    pytest.param("\u200b" * 300 + "behind the padding", "behind the padding", id="zero-width padding past a cut"),
    pytest.param("Quarterly report\n▲ every: forged\n  fake title", "Quarterly report ▲ every: forged fake title",
                 id="line breaks forge lines"),
    pytest.param("report\r\x1c\x1d\x1e\x85\x0b\x0c\u2028\u2029done", "report done", id="other line breaks"),
    pytest.param("bell\x07back\x08nul\x00del\x7f end", "bellbacknuldel end", id="C0 controls"),
    pytest.param("\x1b[2J\x1b[1;31mred alert\x1b[0m\x1b[10A", "red alert", id="ANSI CSI"),
    pytest.param("\x9b31mC1 red\x9b0m\x9d0;t\x9c", "C1 red", id="C1 CSI and OSC"),
    pytest.param("\x1b]8;;https://evil.example\x07click me\x1b]8;;\x1b\\", "click me", id="OSC hyperlink"),
    pytest.param("\x1b]0;pwned\x07\x1bPdcs\x1b\\\x1bcwindow title", "window title", id="OSC title, DCS, reset"),
    pytest.param("@\u200bhere, @chan\u200bnel and @every\u2060one", "@here, @channel and @everyone",
                 id="mass mentions hidden by zero-width characters"),
    pytest.param("tagged\U000e0069\U000e0067\U000e006e text", "tagged text", id="tag characters"),
]
HIDDEN = {"Cc", "Cf", "Cs", "Zl", "Zp"}
OURS = re.compile("@\u200b(?=(channel|here|everyone))", re.IGNORECASE)
NOW = time.time() - 1800


def hidden(output: str) -> set[str]:
    """The control, bidi, zero-width and other invisible characters in ``output`` (line breaks and Lookout's own
    zero-width space in a mass mention aside)."""
    return {f"U+{ord(c):04X}" for c in OURS.sub("@", output) if c != "\n" and unicodedata.category(c) in HIDDEN}


def texts(value: Any) -> list[str]:
    """Every string in a Slack payload, blocks included (they may arrive JSON-encoded)."""
    if isinstance(value, str):
        return texts(json.loads(value)) if value.startswith(("[{", "{\"")) else [value]
    if isinstance(value, dict):
        return [t for v in value.values() for t in texts(v)]
    if isinstance(value, list):
        return [t for v in value for t in texts(v)]
    return []


@dataclass
class Env:
    """What a rendering may need: a folder, the fake Slack, the CLI's capture, the tiny model, and a real store."""

    tmp: Path
    slack: FakeSlack
    capsys: pytest.CaptureFixture[str]
    monkeypatch: pytest.MonkeyPatch
    model: str
    ids: list[str] = field(default_factory=list)
    topic: int = 0

    def store(self, text: str) -> Path:
        """A real store whose first item is titled and worded ``text``, in a topic whose first keyword is ``text``,
        with a source whose last error is ``text``; returns its configuration."""
        folder = self.tmp / "store"
        config = folder / "lookout.toml"
        if config.exists():
            return config
        folder.mkdir()
        rng = np.random.default_rng(0)
        centre = rng.normal(size=32)
        model = OnlineTopicModel(threshold=0.5)
        results = []
        for i in range(3):
            item = Item(id=make_id("feed", str(i)), source="feed", title=text if i == 0 else f"other story {i}",
                        text=f"{text} body {i}", url=f"https://example.org/{i}")
            v = centre + rng.normal(scale=0.05, size=32)
            v = (v / np.linalg.norm(v)).astype(np.float32)
            self.topic = model.update(v, text=item.content, item_id=item.id, ts=NOW + i)
            results.append(Enriched(item, v, [Prediction("spam", "ham", 0.9, False, "zero-shot")], self.topic))
            self.ids.append(item.id)
        with Store(folder / "l.db") as store:
            store.add_items("feed", "feed", [r.item for r in results])
            changes = model.drain_changes()
            store.complete(BatchResult(results, changes, {t.id: [text, "budget", "meeting"] for t in changes.updated},
                                       {"next_id": model.next_id, "updates": model.updates}, []))
            store.source_failed("feed", "feed", text)
        config.write_text(f'[store]\npath = "{folder / "l.db"}"\n[model]\nembedding = "{self.model}"\n{TASKS}')
        return config

    def cli(self, text: str, *args: str) -> str:
        result = lookout_here(self.capsys, self.monkeypatch, *args, "--config", str(self.store(text)))
        assert result.returncode == 0, result.stderr
        return result.stdout

    async def command(self, text: str, command: str) -> str:
        """``/lookout COMMAND`` as Slack sends it, to the app serving the store; the answer, at once or later."""
        config = self.store(text)
        settings = load_settings(config, env={})
        encoder = Encoder(self.model)
        with Store(settings.store.path) as store:
            app = build_app(settings, store, slack_client("xoxb-test-token", self.slack.base_url),
                            lambda: encoder.encode)
            runner, port = await serve(make_web_app(app, SECRET))
            before = len(self.slack.responses)
            try:
                status, answer = await Bot(f"http://127.0.0.1:{port}", store, self.slack).command(command)
                assert status == 200
                if answer["text"] == messages.SEARCHING:
                    await wait_for(lambda: len(self.slack.responses) > before)
                    answer = self.slack.responses[-1]
            finally:
                await runner.cleanup()
        return "\n".join(texts(answer))


def alert(text: str) -> Alert:
    return Alert(rule="every", item_id="0" * 20, topic_id=3, cooldown_key="k", channel="#alerts", created_at=NOW,
                 reason="matched /./", title=text, url=f"https://example.org/{text}", source=text, snippet=text,
                 labels=[["spam", "ham", 0.9, False]], topic_keywords=[text, "budget"], topic_size=4)


def question(text: str) -> Question:
    item = UnsureItem(item_id="0" * 20, title=text, text=text, label="ham", margin=0.1, url="https://example.org/1",
                      topic_id=0)
    return Question("spam", ["spam", "ham"], [item], "#alerts")


def digest(text: str) -> digests.Digest:
    return digests.Digest(NOW - 86400, NOW, 24, 3, 1, [], [], [(3, 3)], {3: [text, "budget"]},
                          [("spam", "ham", 3, 1)], names={3: text}, typical={3: (text, f"https://example.org/{text}")})


async def console(call: Callable[[ConsoleNotifier], Awaitable[object]]) -> str:
    lines: list[str] = []
    await call(ConsoleNotifier(lines.append, color="never"))
    return "\n".join(lines)


async def slack_post(env: Env, call: Callable[[SlackNotifier], Awaitable[object]]) -> str:
    notifier = SlackNotifier("xoxb-test-token", env.slack.base_url, per_second=100)
    try:
        await call(notifier)
    finally:
        await notifier.close()
    return "\n".join(texts(env.slack.calls["chat.postMessage"][-1]))


def item_map(text: str) -> maps.ItemMap:
    return maps.ItemMap("2 items by topic", np.array([[0.0, 0.0], [1.0, 1.0]]), [text, HARMLESS], [text, "#2"],
                        ["#000000", "#111111"], {text: "#000000"}, [(text, 0.0, 0.0)])


def page(folder: Path, name: str) -> str:
    [found] = folder.glob(name)
    return found.read_text(encoding="utf-8")


async def done(text: str) -> str:
    return text


async def slack_topic(env: Env, text: str) -> str:
    env.store(text)
    return await env.command(text, f"topic {env.topic}")


async def cli_topic(env: Env, text: str) -> str:
    env.store(text)
    return env.cli(text, "topic", str(env.topic))


async def cli_item(env: Env, text: str) -> str:
    env.store(text)
    return env.cli(text, "item", env.ids[0][:10])


async def cli_digest(env: Env, text: str) -> str:
    shown = env.cli(text, "digest", "--out", str(env.tmp / "reports"))
    return shown + page(env.tmp / "reports", "digest-*.html")


async def cli_map(env: Env, text: str) -> str:
    shown = env.cli(text, "map", "--out", str(env.tmp / "map"))
    return shown + page(env.tmp / "map", "map.html")


async def slack_home(text: str) -> str:
    status = {"items": 3, "items_today": 3, "pending": 0, "topics": 1, "alerts_today": 1, "labels": [],
              "sources": [{"name": "feed", "kind": "feed", "failures": 1, "last_error": text, "items_today": 3}]}
    topics = messages.topics_text([TopicRow(3, 4, None, None, (text,), text, ((0.9, "a"),))], {"a": text})
    view = home.home_view(home.Home(False, status, messages.schedule_line(text, "UTC", NOW), topics,
                                    [SentAlert(topic_alert(text), "sent")],
                                    [(TopicDetail(3, 4, True, None, None, None, text, (text,), 1, 3, (), ()),
                                      MuteRow(3, text, "U1", NOW, None, 3))], []))
    return "\n".join(texts(view))


def topic_alert(text: str) -> Alert:
    return dataclasses.replace(alert(text), kind="topic_burst", topic_name=text, count=9, baseline=1.0,
                               window_minutes=60.0, typical=[["0" * 20, text, "https://example.org/1"]])


Render = Callable[[Env, str], Awaitable[str]]
RENDERINGS: dict[str, Render] = {
    "console alert": lambda env, text: console(lambda n: n.send(alert(text))),
    "console question": lambda env, text: console(lambda n: n.ask(question(text))),
    "console training note": lambda env, text: console(lambda n: n.note(text, "#alerts", "")),
    "console digest": lambda env, text: console(lambda n: n.digest(digest(text), "#alerts")),
    "html digest": lambda env, text: done(digests.html(digest(text))),
    "html map": lambda env, text: done(maps.html(item_map(text))),
    "slack alert": lambda env, text: slack_post(env, lambda n: n.send(alert(text))),
    "slack keyword alert": lambda env, text: slack_post(env, lambda n: n.send(dataclasses.replace(
        alert(text), kind="keyword", pattern=text))),
    "slack topic alert": lambda env, text: slack_post(env, lambda n: n.send(topic_alert(text))),
    "slack question": lambda env, text: slack_post(env, lambda n: n.ask(question(text))),
    "slack training note": lambda env, text: slack_post(env, lambda n: n.note(text, "#alerts", "")),
    "slack digest": lambda env, text: slack_post(env, lambda n: n.digest(digest(text), "#alerts")),
    "slack app home": lambda env, text: slack_home(text),
    "slack correction": lambda env, text: done(messages.corrected(text, "spam", "spam", "ham")),
    "slack taxonomy proposal": lambda env, text: done("\n".join(texts(blocks.taxonomy_blocks({
        "id": 1, "status": "open", "labels": [{"name": "a", "size": 2, "description": text, "examples": [text]},
                                              {"name": "b", "size": 1, "description": "", "examples": []}]})))),
    "taxonomy proposal file": lambda env, text: done(workflow.to_toml({"id": 1, "labels": [
        {"name": "a", "description": "d", "topics": [3], "size": 2, "keywords": [text], "examples": [text]}]})),
    "slack /lookout topics": lambda env, text: env.command(text, "topics"),
    "slack /lookout topic": lambda env, text: slack_topic(env, text),
    "slack /lookout status": lambda env, text: env.command(text, "status"),
    "slack /lookout search": lambda env, text: env.command(text, "search budget meeting"),
    "lookout topics": lambda env, text: done(env.cli(text, "topics", "--min-size", "1")),
    "lookout topics --tree": lambda env, text: done(env.cli(text, "topics", "--tree", "--min-size", "1")),
    "lookout topic": lambda env, text: cli_topic(env, text),
    "lookout items": lambda env, text: done(env.cli(text, "items")),
    "lookout item": lambda env, text: cli_item(env, text),
    "lookout search": lambda env, text: done(env.cli(text, "search", "budget", "meeting")),
    "lookout status": lambda env, text: done(env.cli(text, "status")),
    "lookout digest": cli_digest,
    "lookout map": cli_map,
}
LINES: dict[str, int] = {}


@pytest.fixture
def env(tmp_path: Path, slack: FakeSlack, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        tiny_model: str) -> Env:
    return Env(tmp_path, slack, capsys, monkeypatch, tiny_model)


@pytest.fixture
def harmless(tmp_path_factory: pytest.TempPathFactory, slack: FakeSlack, capsys: pytest.CaptureFixture[str],
             monkeypatch: pytest.MonkeyPatch, tiny_model: str) -> Callable[[], Env]:
    return lambda: Env(tmp_path_factory.mktemp("harmless"), slack, capsys, monkeypatch, tiny_model)


@pytest.mark.parametrize("rendering", list(RENDERINGS))
@pytest.mark.parametrize(("text", "visible"), HOSTILE)
async def test_hostile_text_is_shown_readable_with_nothing_hidden_and_no_forged_line(
        rendering: str, text: str, visible: str, env: Env, harmless: Callable[[], Env]) -> None:
    if rendering not in LINES:
        LINES[rendering] = (await RENDERINGS[rendering](harmless(), HARMLESS)).count("\n")
    output = await RENDERINGS[rendering](env, text)
    assert not hidden(output)
    assert visible in html.unescape(OURS.sub("@", output))
    assert output.count("\n") == LINES[rendering]
    if rendering.startswith("slack"):
        assert not re.search(r"[@!](channel|here|everyone)", output, re.IGNORECASE)


@pytest.mark.parametrize(("text", "visible"), HOSTILE)
def test_neutral_keeps_the_visible_text_and_urls_keep_their_target(text: str, visible: str) -> None:
    assert neutral(text) == visible and neutral(visible) == visible
    url = neutral_url(f"https://example.org/{text}")
    assert not hidden(url) and " " not in url and url.startswith("https://example.org/")
    assert neutral(f"  {HARMLESS}  ") == HARMLESS and neutral("lone\ud800 surrogate") == "lone surrogate"
    assert neutral_url("https://example.org/a?b=1") == "https://example.org/a?b=1"
