"""Reactions as feedback: the confirming reaction (``bot.confirm_reaction``, ✅ by default) on an alert records its
labels as confirmed; the disputing one (``bot.dispute_reaction``, ❌) offers the person who reacted the alert's
relabel menus, in a message only they see. Who may react to correct is ``bot.access``'s rule for
``reaction_added`` (the relabel buttons' rule); the alert is found by the channel and ``ts`` of its message."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages
from bot.listeners.alerts import USER_ID
from bot.listeners.context import Bot
from monitor import service
from monitor.enrich.alerts import Alert
from monitor.service import ServiceError

log = logging.getLogger(__name__)


async def confirm(bot: Bot, client: AsyncWebClient, alert: Alert, channel: str, user: str) -> None:
    """Record each of the item's labels as confirmed by ``user``, and tell them so."""
    lines = []
    for task, label in sorted((await bot.store.read(bot.store.labels_of, alert.item_id)).items()):
        try:
            done = await bot.store.call(service.correct, bot.store, bot.settings, alert.item_id, label, user,
                                        "reaction", task)
        except ServiceError as exc:
            lines.append(messages.error(str(exc)))
            continue
        lines.append(messages.corrected(done.title, done.task, done.old_label, done.new_label))
    await client.chat_postEphemeral(channel=channel, user=user, text="\n".join(lines) or messages.NOTHING_TO_RELABEL)


async def offer_relabel(bot: Bot, client: AsyncWebClient, alert: Alert, channel: str, user: str) -> None:
    """Show ``user`` the alert's relabel menus (their choice is a correction, as from the alert's own menus)."""
    tasks = {t.name: [x.name for x in t.labels] for t in bot.settings.tasks}
    menus = [e for e in blocks.actions(alert, tasks)["elements"]
             if str(e.get("action_id", "")).startswith("lookout_relabel")]
    if not menus:
        await client.chat_postEphemeral(channel=channel, user=user, text=messages.NOTHING_TO_RELABEL)
        return
    await client.chat_postEphemeral(channel=channel, user=user, text=messages.DISPUTE_PROMPT, blocks=[
        {"type": "section", "text": {"type": "mrkdwn", "text": messages.DISPUTE_PROMPT}},
        {"type": "actions", "elements": menus}])


def register(app: AsyncApp, bot: Bot) -> None:
    """Listen to reactions added to messages."""

    @app.event("reaction_added")
    async def reacted(event: dict[str, Any], client: AsyncWebClient) -> None:
        item, user, name = event.get("item") or {}, str(event.get("user", "")), event.get("reaction")
        answer = {bot.settings.bot.confirm_reaction: confirm, bot.settings.bot.dispute_reaction: offer_relabel}
        if item.get("type") != "message" or name not in answer or not USER_ID.match(user):
            return
        found = await bot.store.read(bot.store.alert_at, str(item.get("channel", "")), str(item.get("ts", "")))
        if found is None:
            return
        await bot.refresh()
        try:
            await answer[name](bot, client, found[1], str(item["channel"]), user)
        except SlackApiError as exc:
            log.warning("could not answer %s's :%s: on alert %d: %s", user, name, found[0], exc.response.get("error"))
