"""The App Home tab and its search modal, as Block Kit. While nothing is configured (no source, no task) the tab is a
first-run guide: the three steps to get going, with their commands. Otherwise it is a dashboard with two actions
(search, today's digest), today's counts and the digest's schedule, the largest topics, recent alerts, mutes and the
models; ``home_sections`` is where a new section joins."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot import messages
from bot.mrkdwn import clip, escape, link, shorten, when
from monitor.service import Found
from monitor.store.mutes import MuteRow
from monitor.store.outbox import SentAlert
from monitor.store.topics import TopicDetail

Block = dict[str, Any]
HOME_BLOCKS = 100
MODAL_BLOCKS = 100
SECTION_CHARS = 3000


@dataclass(frozen=True)
class Home:
    """What the tab shows, read from the store by ``bot.listeners.events``."""

    first_run: bool
    status: dict[str, Any]
    schedule: str
    topics: str
    alerts: list[SentAlert]
    mutes: list[tuple[TopicDetail, MuteRow]]
    """each muted topic (as it is now) with its mute"""
    models: list[dict[str, Any]]
    zone: str = "UTC"
    subscriptions: tuple[tuple[str, str], ...] = ()
    """(channel id, the subscription as ``messages.subscription_line`` shows it)"""


def section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_CHARS)}}


def button(action_id: str, text: str, style: str = "") -> Block:
    found: Block = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text},
                    "value": action_id}
    return {**found, "style": style} if style else found


def first_run() -> list[Block]:
    """The guide shown until a source or a task exists."""
    return [section(messages.FIRST_RUN),
            *(section(f"*{n}. {title}*\n{body}") for n, (title, body) in enumerate(messages.FIRST_STEPS, 1))]


def _recent(home: Home) -> list[Block]:
    lines = []
    for sent in home.alerts:
        alert = sent.alert
        title = link(alert.url, shorten(alert.title, 80) or "(no title)")
        lines.append(f"• {messages.alert_reason(alert)} · {title} · {when(alert.created_at, home.zone)} "
                     f"({escape(sent.status)})")
    return [section("*Recent alerts*\n" + ("\n".join(lines) or "No alerts yet."))]


def _mutes(home: Home) -> list[Block]:
    lines = [f"• *{escape(t.name or ', '.join(t.keywords[:3]) or 'no keywords yet')}* (#{t.id})"
             + (f", only *{escape(m.rule)}* alerts" if m.rule else "")
             + (f", until {when(m.until, home.zone)}" if m.until is not None else "") for t, m in home.mutes]
    return [section("*Muted topics*\n" + ("\n".join(lines) or "No topic is muted (an alert's *Mute* button "
                                                              "or `/lookout mute <topic>` mutes one)."))]


def _subscriptions(home: Home) -> list[Block]:
    lines = [f"• <#{channel}> {line}" for channel, line in home.subscriptions]
    return [section("*Channel subscriptions*\n" + ("\n".join(lines) or "No channel subscribes to anything yet "
                                                                       "(`/lookout subscribe <feed-url>` in one)."))]


def _models(home: Home) -> list[Block]:
    return [section("*Models*\n" + ("\n".join(messages.model_line(m) for m in home.models)
                                    or "No tasks configured."))]


def _overview(home: Home) -> list[Block]:
    return [section(messages.status_text(home.status, schedule=home.schedule)), section(home.topics)]


HomeSection = Callable[[Home], list[Block]]


def home_sections() -> list[HomeSection]:
    """The dashboard's sections in order, each a function of ``Home`` to its blocks; a new section is one more
    function here and one more field of ``Home``."""
    return [_overview, _recent, _mutes, _subscriptions, _models]


def home_view(home: Home) -> dict[str, Any]:
    """The App Home tab: the first-run guide, or the dashboard with its actions."""
    head: list[Block] = [{"type": "header", "text": {"type": "plain_text", "text": "Lookout"}}]
    if home.first_run:
        return {"type": "home", "blocks": head + first_run()}
    blocks = [*head, {"type": "actions", "elements": [button("lookout_home_search", "Search…", "primary"),
                                                      button("lookout_home_digest", "Today's digest")]}]
    for make in home_sections():
        blocks += [{"type": "divider"}, *make(home)]
    return {"type": "home", "blocks": blocks[:HOME_BLOCKS]}


def _modal(title: str, blocks: list[Block], submit: str = "", metadata: dict[str, Any] | None = None) -> Block:
    view: Block = {"type": "modal", "callback_id": "lookout_search", "title": {"type": "plain_text", "text": title},
                   "close": {"type": "plain_text", "text": "Close"}, "blocks": blocks[:MODAL_BLOCKS],
                   "private_metadata": json.dumps(metadata or {})}
    return {**view, "submit": {"type": "plain_text", "text": submit}} if submit else view


def search_modal() -> Block:
    """The search box the Home tab's *Search…* button opens."""
    return _modal("Search Lookout", [{"type": "input", "block_id": "query", "label": {
        "type": "plain_text", "text": "Words to look for (nearest in meaning, not just the same words)"},
        "element": {"type": "plain_text_input", "action_id": "value", "max_length": 200}}], submit="Search")


def searching_modal(query: str) -> Block:
    return _modal("Search Lookout", [section(f"{messages.SEARCHING} “{escape(shorten(query, 100))}”")])


def results_modal(query: str, rows: list[Found]) -> Block:
    """The search's answer, in the modal: one section per item, linked, with its source, id and similarity."""
    head = section(f"*Nearest to* “{escape(shorten(query, 100))}”" if rows else messages.NOTHING_FOUND)
    return _modal("Search Lookout", [head, *(section(
        f"{link(r.item.url, shorten(r.item.title, 150) or '(no title)')}\n{escape(r.item.source)} · "
        f"`{r.item.id[:10]}` · similarity {r.similarity:.2f}") for r in rows)])
