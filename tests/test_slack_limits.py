"""Each Block Kit limit the fake Slack keeps (``tests.slack_limits``) through its real HTTP path: a message or view
at the limit is taken, one a step over it is refused with ``invalid_blocks`` and the one error that says where."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import aiohttp
import pytest
from slack_sdk.errors import SlackApiError

from bot.notifier import slack_client
from tests.fake_slack import FakeSlack

Build = Callable[[int], dict[str, Any]]


def text(n: int, kind: str = "plain_text") -> dict[str, str]:
    return {"type": kind, "text": "x" * n}


def message(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"blocks": list(blocks)}


def element(**parts: Any) -> dict[str, Any]:
    """A message whose one actions block holds one element."""
    return message({"type": "actions", "elements": [parts]})


def button(**parts: Any) -> dict[str, Any]:
    return element(type="button", action_id="b", text=text(1), **parts)


def menu(**parts: Any) -> dict[str, Any]:
    return element(**{"type": "static_select", "action_id": "m", "options": [option(1, 1)], **parts})


def option(label: int, value: int) -> dict[str, Any]:
    return {"text": text(label), "value": "v" * value}


def confirmed(part: str, n: int) -> dict[str, Any]:
    """A button whose confirm dialog's ``part`` is ``n`` characters long."""
    dialog = {"title": text(1), "text": text(1), "confirm": text(1), "deny": text(1), part: text(n)}
    return button(confirm=dialog)


def view(**parts: Any) -> dict[str, Any]:
    return {"view": {"type": "modal", "title": text(5), "blocks": [], **parts}}


def view_text(part: str, n: int) -> dict[str, Any]:
    """A modal whose ``part`` (title, submit or close) is ``n`` characters long."""
    return view(**{part: text(n)})


def error(where: str, limit: int) -> str:
    return f"must be less than {limit + 1} characters [json-pointer:{where}]"


def items(where: str, limit: int) -> str:
    return f"must be no more than {limit} items [json-pointer:{where}]"


def too_many(where: str) -> str:
    return f"too many elements [json-pointer:{where}]"


DIVIDER = {"type": "divider"}
LIMITS: list[tuple[str, Build, int, str]] = [
    ("blocks in a message", lambda n: message(*[DIVIDER] * n), 50, items("/blocks", 50)),
    ("copies of a block_id", lambda n: message({**DIVIDER, "block_id": "a"}, {**DIVIDER, "block_id": "ba"[n - 1]}),
     1, "block_id must be unique [json-pointer:/blocks]"),
    ("block_id", lambda n: message({**DIVIDER, "block_id": "i" * n}), 255, error("/blocks/0/block_id", 255)),
    ("header text", lambda n: message({"type": "header", "text": text(n)}), 150, error("/blocks/0/text", 150)),
    ("section text", lambda n: message({"type": "section", "text": text(n, "mrkdwn")}), 3000,
     error("/blocks/0/text", 3000)),
    ("context block text", lambda n: message({"type": "context", "text": text(n), "elements": []}), 3000,
     error("/blocks/0/text", 3000)),
    ("fields in a section", lambda n: message({"type": "section", "fields": [text(1)] * n}), 10,
     items("/blocks/0/fields", 10)),
    ("field text", lambda n: message({"type": "section", "fields": [text(n, "mrkdwn")]}), 2000,
     error("/blocks/0/fields/0", 2000)),
    ("elements in an actions block", lambda n: message({"type": "actions", "elements": [
        {"type": "button", "action_id": f"b{i}", "text": text(1)} for i in range(n)]}), 25,
     too_many("/blocks/0/elements")),
    ("elements in a context block", lambda n: message({"type": "context", "elements": [text(1)] * n}), 10,
     too_many("/blocks/0/elements")),
    ("elements in another block", lambda n: message({"type": "rich_text", "elements": [
        {"type": "rich_text_section", "elements": []}] * n}), 100, too_many("/blocks/0/elements")),
    ("context element text", lambda n: message({"type": "context", "elements": [text(n, "mrkdwn")]}), 3000,
     error("/blocks/0/elements/0/text", 3000)),
    ("accessory action_id", lambda n: message({"type": "section", "text": text(1), "accessory": {
        "type": "button", "action_id": "a" * n, "text": text(1)}}), 255, error("/blocks/0/elements/0/action_id", 255)),
    ("button text", lambda n: element(type="button", action_id="b", text=text(n)), 75,
     error("/blocks/0/elements/0/text", 75)),
    ("button value", lambda n: button(value="v" * n), 2000, error("/blocks/0/elements/0/value", 2000)),
    ("button url", lambda n: button(url="https://example.org/" + "u" * (n - 20)), 3000,
     error("/blocks/0/elements/0/url", 3000)),
    ("placeholder", lambda n: menu(placeholder=text(n)), 150, error("/blocks/0/elements/0/placeholder", 150)),
    ("options in a menu", lambda n: menu(options=[option(1, 1)] * n), 100, items("/blocks/0/elements/0/options", 100)),
    ("option text", lambda n: menu(options=[option(n, 1)]), 75, error("/blocks/0/elements/0/options/0/text", 75)),
    ("option value", lambda n: menu(options=[option(1, n)]), 150, error("/blocks/0/elements/0/options/0/value", 150)),
    *[(f"confirm {part}", partial(confirmed, part), limit, error(f"/blocks/0/elements/0/confirm/{part}", limit))
      for part, limit in (("title", 100), ("text", 300), ("confirm", 30), ("deny", 30))],
    ("blocks in a view", lambda n: view(blocks=[DIVIDER] * n), 100, items("/view/blocks", 100)),
    ("view blocks' limits", lambda n: view(blocks=[{"type": "header", "text": text(n)}]), 150,
     error("/view/blocks/0/text", 150)),
    *[(f"view {part}", partial(view_text, part), 24, error(f"/view/{part}", 24))
      for part in ("title", "submit", "close")],
    ("view private_metadata", lambda n: view(private_metadata="m" * n), 3000, error("/view/private_metadata", 3000)),
]


async def call(slack: FakeSlack, payload: dict[str, Any]) -> dict[str, Any]:
    """Post ``payload`` as a message, or open it as a modal when it holds a view; Slack's answer."""
    client = slack_client("xoxb-test-token", slack.base_url)
    try:
        if "view" in payload:
            answer = await client.views_open(trigger_id="1.2.3", view=payload["view"])
        else:
            answer = await client.chat_postMessage(channel="C0ALERTS", text="t", blocks=payload["blocks"])
        return dict(answer.data)  # type: ignore[arg-type]
    except SlackApiError as refused:
        return dict(refused.response.data)  # type: ignore[arg-type]
    finally:
        await client.session.close() if client.session else None


@pytest.mark.parametrize(("build", "limit", "complaint"), [row[1:] for row in LIMITS], ids=[row[0] for row in LIMITS])
async def test_a_payload_at_a_limit_is_taken_and_one_over_it_refused_with_the_error(
        slack: FakeSlack, build: Build, limit: int, complaint: str) -> None:
    assert (await call(slack, build(limit)))["ok"] is True
    assert await call(slack, build(limit + 1)) == {"ok": False, "error": "invalid_blocks", "errors": [complaint]}


async def test_a_response_url_reply_over_the_limits_is_refused(slack: FakeSlack) -> None:
    async with aiohttp.ClientSession() as http:
        for n, status in ((50, 200), (51, 400)):
            async with http.post(slack.response_url, json={"text": "t", "blocks": [DIVIDER] * n}) as answer:
                assert (answer.status, await answer.text()) == (status, "ok" if status == 200 else "invalid_blocks")
    assert len(slack.responses) == 1
