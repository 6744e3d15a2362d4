"""Alerts to Slack through a recording fake of the Web API on 127.0.0.1: blocks, escaping, 429s, errors, pacing."""

from __future__ import annotations

import time

import pytest

from bot.blocks import alert_blocks
from bot.mrkdwn import escape, link
from bot.notifier import SlackNotifier, make_notifier
from monitor.config.load import load_settings
from monitor.daemon.notify import ConsoleNotifier, DeliveryError
from monitor.enrich.alerts import Alert
from tests.fake_slack import FakeSlack

TOKEN = "xoxb-test-token"


def alert(**kw: object) -> Alert:
    base = dict(rule="spam-wave", item_id="abc123", topic_id=7, cooldown_key="topic:7", channel="#alerts",
                created_at=1.0, reason="spam is spam (93% sure)", title="Cheap <!channel> pills",
                url="https://example.org/a?b=1", source="inbox", snippet="Hey @here, click <http://evil|bank>",
                labels=[["spam", "spam", 0.93, False]], topic_keywords=["pills", "cheap"], topic_size=3)
    return Alert(**{**base, **kw})  # type: ignore[arg-type]


def all_text(blocks: list[dict]) -> str:
    return str(blocks)


def test_untrusted_text_cannot_ping_mention_or_forge_links() -> None:
    assert escape("<!channel> <@U123> <http://evil|bank> & @here @Everyone") == \
        "&lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|bank&gt; &amp; @\u200bhere @\u200bEveryone"
    assert link("javascript:alert(1)", "x") == "x"
    assert link("https://ok.org/a|b>c", "t|i") == "<https://ok.org/a%7Cb%3Ec|t¦i>"
    text = all_text(alert_blocks(alert()))
    for dangerous in ("<!channel>", "<http://evil", "@here"):
        assert dangerous not in text
    assert "<https://example.org/a?b=1|Cheap &lt;!channel&gt; pills>" in text


def test_blocks_stay_within_slack_limits_for_huge_items() -> None:
    blocks = alert_blocks(alert(title="t" * 5000, snippet="s" * 50_000, topic_keywords=["k" * 400] * 20))
    assert len(blocks) <= 50
    for block in blocks:
        texts = [block["text"]["text"]] if "text" in block else [f["text"] for f in block.get("fields", [])] + \
            [e["text"] for e in block.get("elements", [])]
        assert all(len(t) <= 3000 for t in texts)


async def test_an_alert_is_posted_with_blocks_and_a_fallback_text(slack: FakeSlack) -> None:
    notifier = SlackNotifier(TOKEN, slack.base_url)
    await notifier.send(alert())
    await notifier.close()
    [call] = slack.calls["chat.postMessage"]
    assert call["channel"] == "#alerts" and call["text"].startswith("[spam-wave] Cheap &lt;!channel&gt;")
    assert call["blocks"][0]["type"] == "section" and call["unfurl_links"] is False


async def test_a_429_is_retried_after_retry_after_then_delivered(slack: FakeSlack) -> None:
    slack.rate_limit_next = 1
    notifier = SlackNotifier(TOKEN, slack.base_url)
    started = time.monotonic()
    await notifier.send(alert())
    await notifier.close()
    assert slack.ratelimited == 1 and len(slack.calls["chat.postMessage"]) == 1
    assert time.monotonic() - started >= 1.0


async def test_exhausted_rate_limit_retries_ask_to_try_later_and_other_errors_are_final(slack: FakeSlack) -> None:
    slack.rate_limit_next, slack.retry_after = 5, 0
    notifier = SlackNotifier(TOKEN, slack.base_url, rate_limit_retries=1)
    with pytest.raises(DeliveryError) as err:
        await notifier.send(alert())
    assert err.value.permanent is False and "ratelimited" in str(err.value)
    slack.rate_limit_next = 0
    slack.unknown_channels.add("#gone")
    with pytest.raises(DeliveryError) as err:
        await notifier.send(alert(channel="#gone"))
    assert err.value.permanent is True and "channel_not_found" in str(err.value)
    await notifier.close()


async def test_messages_to_one_channel_are_paced(slack: FakeSlack) -> None:
    notifier = SlackNotifier(TOKEN, slack.base_url, per_second=4.0)
    started = time.monotonic()
    for _ in range(3):
        await notifier.send(alert())
    await notifier.send(alert(channel="#other"))
    await notifier.close()
    assert time.monotonic() - started >= 0.5
    assert [c["channel"] for c in slack.calls["chat.postMessage"]] == ["#alerts"] * 3 + ["#other"]


def test_slack_is_chosen_only_when_a_token_is_set() -> None:
    assert isinstance(make_notifier(load_settings(None, env={}), print), ConsoleNotifier)
    chosen = make_notifier(load_settings(None, env={"SLACK_BOT_TOKEN": TOKEN}), print)
    assert isinstance(chosen, SlackNotifier)


async def test_slack_that_cannot_be_reached_is_tried_again_later_but_never_called_unsure() -> None:
    notifier = SlackNotifier(TOKEN, "http://127.0.0.1:9/api/", timeout=2)
    with pytest.raises(DeliveryError) as err:
        await notifier.send(alert())
    await notifier.close()
    assert not err.value.permanent and not err.value.unsure and "Slack unreachable" in str(err.value)
