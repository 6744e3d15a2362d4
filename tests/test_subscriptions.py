"""Channel subscriptions: `/lookout subscribe`, `subscriptions` and `unsubscribe` through the real Bolt app with
signed requests, the alerts they route through the real daemon to the recording fake Slack, the `lookout
subscriptions` command, and feeds imported from OPML (`lookout watch import`)."""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from bot import messages
from models.embedding import Encoder
from monitor import subscriptions
from monitor.config.load import load_settings
from monitor.store.db import Store
from tests.bot_helpers import Bot, served, trigger_id
from tests.cli import lookout_here
from tests.daemon_helpers import append, config, deliver, story
from tests.fake_slack import FakeSlack
from tests.feed_server import FeedServer, Route, rss
from tests.servers import sample_rows


@pytest.fixture(scope="module")
def encoder(tiny_model: str) -> Encoder:
    return Encoder(tiny_model)


async def command(app: Bot, text: str, user: str = "U0BOSS", channel: str = "C0TEAM") -> dict[str, Any]:
    """``/lookout TEXT`` sent by ``user`` from ``channel``; the immediate answer."""
    _, answer = await app.post(urlencode({
        "token": "legacy", "team_id": "T0TEST", "channel_id": channel, "user_id": user, "command": "/lookout",
        "text": text, "api_app_id": "A0APP", "response_url": app.slack.response_url, "trigger_id": trigger_id()}))
    return answer


async def test_admins_subscribe_and_unsubscribe_a_channel_and_anyone_lists_its_subscriptions(
        tmp_path: Path, tiny_model: str, slack: FakeSlack, encoder: Encoder) -> None:
    cfg = config(tmp_path, tiny_model, slack)
    append(cfg, story("s1"))
    await deliver(cfg, encoder)
    settings = load_settings(cfg, env={})
    settings = dataclasses.replace(settings, bot=dataclasses.replace(settings.bot, admins=("U0BOSS",)))
    store = Store(settings.store.path)
    async with served(settings, store, slack) as app:
        refusal = messages.NOT_ADMIN.format(what="change a channel's subscriptions")
        assert (await command(app, "subscribe keyword outage", user="U0ADA"))["text"] == refusal
        assert store.subscriptions() == []
        answer = await command(app, "subscribe keyword (?i)out(age)?")
        assert answer["response_type"] == "in_channel"
        assert answer["text"].startswith("Subscribed this channel: *#1* keyword `(?i)out(age)?` (by <@U0BOSS>)")
        for text, said in [
            ("subscribe keyword (unclosed", ":warning: `(unclosed` is not a valid regular expression ("),
            ("subscribe keyword (?i)out(age)?", ":warning: this channel already has that subscription (#1)"),
            ("subscribe topic 99999", ":warning: there is no topic #99999"),
            ("subscribe label spam=eggs", ":warning: `eggs` is not a label of task `spam`; labels are spam, ham"),
            ("subscribe label nosuch=spam", ":warning: expected TASK=LABEL with one of the tasks: spam"),
            ("subscribe ftp://old.example.org/feed", ":warning: `ftp://old.example.org/feed` is not a feed URL"),
            ("subscribe topic", "Usage: `/lookout subscribe <feed-url>`"),
            ("subscribe keyword a b", "Usage: `/lookout subscribe <feed-url>`"),
        ]:
            assert (await command(app, text))["text"].startswith(said), text
        assert (await command(app, "subscribe topic 1"))["text"].startswith("Subscribed this channel: *#2* topic #1")
        assert (await command(app, "subscribe label spam=spam"))["text"].startswith(
            "Subscribed this channel: *#3* label `spam=spam`")
        answer = await command(app, "subscribe <https://reader:s3cret@feeds.example.org/team.xml>")
        assert "*#4* feed `feeds-example-org-team-xml`: `https://***@feeds.example.org/team.xml`" in answer["text"]
        assert [w.target for w in store.watches()] == ["https://reader:s3cret@feeds.example.org/team.xml"]

        listed = await command(app, "subscriptions", user="U0ADA")
        assert listed["response_type"] == "ephemeral" and listed["text"].count("\n• ") == 4
        assert "s3cret" not in listed["text"]
        assert (await command(app, "subscriptions", channel="C0ELSE"))["text"] == \
            "This channel has no subscriptions yet: `/lookout subscribe <feed-url>`."
        assert (await command(app, "unsubscribe 1", user="U0ADA"))["text"] == refusal
        assert (await command(app, "unsubscribe 1", channel="C0ELSE"))["text"] == \
            ":warning: no subscription #1 in this channel; `subscriptions` lists them"
        assert (await command(app, "unsubscribe #1"))["text"].startswith("Unsubscribed this channel from *#1* keyword")
        answer = await command(app, "unsubscribe 4")
        assert answer["text"].endswith("The feed `feeds-example-org-team-xml` is no longer watched.")
        assert store.watches() == [] and [s.id for s in store.subscriptions("C0TEAM")] == [2, 3]
    store.close()


async def test_a_subscription_routes_its_alerts_to_its_channel_once_per_item_and_the_rules_channel_keeps_them(
        tmp_path: Path, tiny_model: str, slack: FakeSlack, feed_server: FeedServer, encoder: Encoder) -> None:
    feed_server.routes["/team.xml"] = Route(body=rss(sample_rows(2, start=20)))
    cfg = config(tmp_path, tiny_model, slack)
    append(cfg, sample_rows(3))
    settings = load_settings(cfg, env={})
    with Store(settings.store.path) as store:
        for channel, kind, target in [("C0TEAM", "keyword", "."), ("C0TEAM", "label", "spam=spam"),
                                      ("C0TEAM", "label", "spam=ham"), ("C0FEED", "feed", feed_server.url("/team.xml")),
                                      ("C0NONE", "keyword", "zzqqzz")]:
            subscriptions.subscribe(store, settings, channel, kind, target, "U0BOSS")
    slack.channel_ids.update({c: c for c in ("C0TEAM", "C0FEED", "C0NONE")})
    await deliver(cfg, encoder)
    top_level = Counter(p["channel"] for p in slack.calls["chat.postMessage"])
    assert top_level == {"#lookout": 5, "C0TEAM": 5, "C0FEED": 2}
    db = sqlite3.connect(tmp_path / "lookout.db")
    per_channel = db.execute("select channel, count(*), count(distinct item_id) from alerts group by channel")
    assert sorted(per_channel.fetchall()) == [("#lookout", 5, 5), ("C0FEED", 2, 2), ("C0TEAM", 5, 5)]
    feed_items = {i for (i,) in db.execute("select id from items where source != 's'")}
    assert len(feed_items) == 2
    assert {i for (i,) in db.execute("select item_id from alerts where channel = 'C0FEED'")} == feed_items
    assert {r for (r,) in db.execute("select distinct rule from alerts where channel = 'C0FEED'")} == \
        {"subscription #4"}


async def test_a_topic_subscription_gets_that_topics_new_items(tmp_path: Path, tiny_model: str, slack: FakeSlack,
                                                               encoder: Encoder) -> None:
    cfg = config(tmp_path, tiny_model, slack)
    append(cfg, story("t1"))
    await deliver(cfg, encoder)
    settings = load_settings(cfg, env={})
    with Store(settings.store.path) as store:
        topic = store.db.execute("select topic_id from items").fetchone()[0]
        subscriptions.subscribe(store, settings, "C0TOPIC", "topic", f"#{topic}", "U0BOSS")
    append(cfg, [*story("t2"), {"id": "other", "title": "Chess", "text": "Grandmaster wins the endgame in 40 moves"}])
    await deliver(cfg, encoder)
    db = sqlite3.connect(tmp_path / "lookout.db")
    routed = {i for (i,) in db.execute("select item_id from alerts where channel = 'C0TOPIC'")}
    joined = {i for (i,) in db.execute("select id from items where topic_id = ? and rowid > 1", [topic])}
    assert routed == joined and len(routed) >= 1, "every new item of the topic, and nothing else"
    assert db.execute("select count(*) from items").fetchone()[0] == 3


def test_the_cli_lists_adds_and_removes_subscriptions(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[[tasks]]\nname = "spam"\n  [[tasks.labels]]\n'
                   '  name = "spam"\n  [[tasks.labels]]\n  name = "ham"\n')

    def run(*args: str) -> tuple[int, str]:
        result = lookout_here(capsys, monkeypatch, "subscriptions", *args, "--config", str(cfg))
        return result.returncode, result.stdout + result.stderr

    refused, said = run("list")
    assert refused == 2 and "no store at" in said, "listing does not make an empty store"
    assert run("add", "keyword", "(?i)outage", "--channel", "C0TEAM", "--user", "ada") == \
        (0, "subscription #1: keyword (?i)outage -> C0TEAM\n")
    assert run("add", "https://blog.example.org/feed.xml", "--channel", "C0TEAM") == \
        (0, "subscription #2: feed https://blog.example.org/feed.xml -> C0TEAM (feed blog-example-org-feed-xml, "
            "now watched)\n")
    assert run("add", "label", "spam=spam") == (2, "lookout: a subscription needs the channel it sends to\n")
    assert run("add", "keyword", "([", "--channel", "C0TEAM")[1].startswith(
        "lookout: `([` is not a valid regular expression (")
    assert run("add", "topic", "42", "--channel", "C0TEAM") == (2, "lookout: there is no topic #42\n")
    code, out = run("list", "--channel", "C0TEAM")
    assert code == 0 and "(?i)outage" in out and "blog-example-org-feed-xml" in out and "ada" in out
    assert run("remove", "1", "--channel", "C0ELSE")[0] == 2
    assert run("remove", "2") == (0, "removed subscription #2 (feed https://blog.example.org/feed.xml -> C0TEAM); "
                                     "feed blog-example-org-feed-xml is no longer watched\n")
    assert run("list", "--channel", "C0ELSE") == (0, "no subscriptions yet\n")


OPML = """<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0"><head><title>Team feeds</title></head><body>
  <outline text="Tech">
    <outline text="Hacker News" title="Hacker News" type="rss" xmlUrl="https://news.example.org/rss"/>
    <outline text="Deeper"><outline title="Deep Feed" type="rss" xmlUrl="https://deep.example.org/atom.xml"/>
    </outline>
  </outline>
  <outline title="Hacker News" type="rss" xmlUrl="https://news.example.org/rss"/>
  <outline title="Hacker News" type="rss" xmlUrl="https://mirror.example.org/rss"/>
  <outline title="Gopher" type="rss" xmlUrl="gopher://old.example.org/feed"/>
  <outline title="No address" type="rss"/>
  <outline title="Configured" type="rss" xmlUrl="https://configured.example.org/feed"/>
</body></opml>
"""
LAUGHS = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
          + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10))
          + ']><opml><body><outline title="&lol9;" xmlUrl="https://x.example.org/"/></body></opml>')
EXTERNAL = ('<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'
            '<opml><body><outline title="&secret;" xmlUrl="https://x.example.org/"/></body></opml>')


def test_opml_import_watches_nested_feeds_by_title_and_reports_duplicates_and_bad_entries(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n'
                   '[[feeds]]\nname = "configured"\nurl = "https://configured.example.org/feed"\n')
    (tmp_path / "feeds.opml").write_text(OPML)
    result = lookout_here(capsys, monkeypatch, "watch", "import", str(tmp_path / "feeds.opml"), "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "now watching feed hacker-news: https://news.example.org/rss",
        "now watching feed deep-feed: https://deep.example.org/atom.xml",
        "now watching feed hacker-news-2: https://mirror.example.org/rss",
        "already watched: https://news.example.org/rss",
        "already watched: https://configured.example.org/feed",
        "skipped line 10: `gopher://old.example.org/feed` is not a feed URL: expected http:// or https://",
        "skipped line 11: `No address` names no feed (no xmlUrl)",
        "3 feeds added, 2 already watched, 2 skipped",
    ]
    again = lookout_here(capsys, monkeypatch, "watch", "import", str(tmp_path / "feeds.opml"), "--config", str(cfg))
    assert again.stdout.splitlines()[-1] == "0 feeds added, 5 already watched, 2 skipped"
    with Store(tmp_path / "l.db") as store:
        assert [w.name for w in store.watches()] == ["hacker-news", "deep-feed", "hacker-news-2"]


@pytest.mark.parametrize(("document", "said"), [
    (LAUGHS, "declares a DTD"), (EXTERNAL, "declares a DTD"), ("<opml><body><outline", "not well-formed XML"),
    (json.dumps({"not": "xml"}), "not well-formed XML")], ids=["billion laughs", "external entity", "cut", "json"])
def test_hostile_or_broken_opml_is_refused_at_once_and_adds_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, document: str,
        said: str) -> None:
    (tmp_path / "bad.opml").write_text(document)
    result = lookout_here(capsys, monkeypatch, "watch", "import", str(tmp_path / "bad.opml"), "--db",
                          str(tmp_path / "l.db"))
    assert result.returncode == 2 and said in result.stderr
    with Store(tmp_path / "l.db") as store:
        assert store.watches() == []
