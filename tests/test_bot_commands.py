"""`/lookout` commands through the real Bolt app served on 127.0.0.1, driven by signed requests exactly as Slack
sends them, answering through the recording fake Slack and its response_url: parsing, help, status, topics, label,
search, watch, trends, retrain."""

from __future__ import annotations

import numpy as np
import pytest

from bot import messages
from bot.access import redact_url
from bot.commands import Command, UsageError, intent, parse
from monitor.enrich.alerts import Mute
from tests.bot_helpers import Bot
from tests.servers import wait_for


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


def test_slack_entities_in_command_text_become_what_the_user_typed() -> None:
    assert parse("watch add keyword a&amp;b|x&lt;y&gt;z").args == ("add", "keyword", "a&b|x<y>z")
    assert parse("watch add <https://example.org/feed?a=1&amp;b=2>").args == ("add",
                                                                             "<https://example.org/feed?a=1&b=2>")
    assert parse("search &amp;lt;").args == ("&lt;",)
    assert intent("<@U0BOT> search for R&amp;D").args == ("R&D",)


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
    assert (row.item_id, row.task, row.new_label, row.user, row.via) == \
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
    _, answer = await bot.command("search payload")
    assert answer["text"] == "Searching…", "Bolt's own parser empties a form that holds the word payload"
    await wait_for(lambda: len(bot.slack.responses) == 2)
    assert bot.slack.responses[1]["text"].startswith("*Nearest to* “payload”")


@pytest.mark.parametrize(("text", "expected"), [
    ("<@U0BOT> what's trending?", Command("topics")),
    ("anything about outages today?", Command("search", ("outages",))),
    ("search for mortgage rates", Command("search", ("mortgage", "rates"))),
    ("tell me a joke", Command("help")),
])
def test_mentions_and_direct_messages_are_understood(text: str, expected: Command) -> None:
    assert intent(text) == expected


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
    assert answer["response_type"] == "in_channel"
    assert answer["text"].startswith(f"Muted alerts about topic #{topic_id} (")
    assert bot.store.muted() == {Mute(topic_id)}


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
    _, answer = await bot.command(f"watch add https://other.example.org/rss {'b' * 41}")
    assert answer["text"].startswith(f":warning: `{'b' * 41}` cannot name a watch: expected one word (no spaces) of "
                                     "up to 40 characters"), "a name Slack's buttons could not carry is refused"
    _, answer = await bot.command("watch add https://reader:pa55word@private.example.org/feed?token=s3cret&page=2 "
                                  "private")
    assert answer["text"] == ("Now watching feed `private`: `https://***@private.example.org/feed?token=***&amp;"
                              "page=2` (live within seconds).")
    _, answer = await bot.command("watch list")
    assert "`list` (replay, config)" in answer["text"] and "`blog` (feed, by U0ADA)" in answer["text"]
    assert "`private` (feed, by U0ADA): `https://***@private.example.org/feed?token=***&amp;page=2`" in answer["text"]
    assert "pa55word" not in answer["text"] and "s3cret" not in answer["text"]
    await bot.command("watch remove private")
    _, answer = await bot.command("watch remove list")
    assert answer["text"] == ":warning: `list` is set in the configuration file; remove it there"
    _, answer = await bot.command("watch remove blog")
    assert answer["text"] == "Stopped watching `blog`."
    assert [w.name for w in bot.store.watches()] == ["i-outage"]


@pytest.mark.parametrize(("target", "shown"), [
    ("https://user:pass@host.example/feed", "https://***@host.example/feed"),
    ("https://ghp_abc123@host.example/feed.xml", "https://***@host.example/feed.xml"),
    ("https://host.example/rss?api_key=k1&lang=en&Access_Token=t2", "https://host.example/rss?api_key=***&lang=en&"
                                                                     "Access_Token=***"),
    ("https://host.example/feed#access_token=t3", "https://host.example/feed#access_token=***"),
    ("https://host.example/feed?page=2&q=a%20b", "https://host.example/feed?page=2&q=a%20b"),
    ("https://[::1/feed?token=x", "https://[::1/feed?token=***"),
    ("https://a:b@[::1/feed", "https://***@[::1/feed"),
    ("/var/mail/lookout.mbox", "/var/mail/lookout.mbox"),
    ("(?i)pass(word)?", "(?i)pass(word)?"),
])
def test_credentials_in_urls_are_masked(target: str, shown: str) -> None:
    assert redact_url(target) == shown


async def test_trends_answers_with_rising_and_fading_topics(bot: Bot) -> None:
    _, answer = await bot.command("trends 12")
    new, rest = answer["text"].split("\n*Rising", 1)
    assert new == ("*New over the last 12 h*\nToo early to tell: 0 of the 6 bins of watched history a new topic "
                   "needs."), "a store whose items all arrived just now cannot tell a new topic"
    rising, rest = ("*Rising" + rest).split("\n*Fading*\n")
    fading, labels = rest.split("\n*Labels*\n")
    assert rising == "*Rising over the last 12 h*\nNothing is rising above its baseline.", \
        "all 8 items arrived just now: a store with no history calls nothing rising"
    assert fading == "Nothing is fading."
    assert labels == "No label moved away from its baseline."
    _, answer = await bot.command("trends 999")
    assert answer["text"].startswith("Usage: `/lookout trends [hours]`")


async def test_retrain_queues_a_run_and_opens_the_thread_its_progress_follows(bot: Bot) -> None:
    _, answer = await bot.command("retrain eggs")
    assert answer["text"] == ":warning: no task `eggs`; tasks are: spam"
    _, answer = await bot.command("retrain")
    assert answer["text"].startswith("Queued: training starts within seconds")
    await wait_for(lambda: bot.store.runs() and bot.store.runs()[0].thread)
    [posted] = bot.slack.calls["chat.postMessage"]
    assert posted["channel"] == "C0ALERTS" and "Retraining `spam`, asked by <@U0ADA>" in posted["text"]
    [run] = bot.store.runs()
    assert (run.task, run.status, run.via, run.requested_by, run.channel) == \
        ("spam", "requested", "slack", "U0ADA", "C0ALERTS")
    assert run.thread == "1700000001.000100"
    _, answer = await bot.command("retrain spam")
    assert answer["text"] == f"A training run of `spam` (#{run.id}) is already waiting or running."
    assert len(bot.store.runs()) == 1
    _, answer = await bot.command("status")
    assert "`spam`: zero-shot; 0 corrections since the last training run" in answer["text"]


def test_the_models_line_says_which_rung_serves_and_what_zero_shot_scored() -> None:
    row = {"task": "spam", "version": "v3", "rung": "head", "int8": False, "metric": "macro_f1", "score": 0.9,
           "zero_shot": 0.61, "waiting": 2, "auto_agreement": (0, 0)}
    assert messages.model_line(row) == ("• `spam`: v3 (head), held-out macro_f1 0.900 against 0.610 zero-shot; "
                                        "2 corrections since the last training run")
    tuned = {**row, "rung": "fine-tuned", "int8": True, "zero_shot": None}
    assert messages.model_line(tuned).startswith("• `spam`: v3 (fine-tuned, int8), held-out macro_f1 0.900;")
