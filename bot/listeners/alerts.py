"""The buttons and menus on alert messages and questions: relabel, answer, confirm, open (mute and its Undo are
``bot.listeners.mutes``'). Each change is shown on the message in place."""

from __future__ import annotations

import json
import re
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.blocks import label_key
from bot.listeners.context import Bot, add_notes, note
from monitor import service
from monitor.service import ServiceError

USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


async def correct(bot: Bot, client: AsyncWebClient, body: dict[str, Any], labels: list[tuple[str, str]],
                  item: str) -> None:
    """Store corrections from a button or menu and show them on the alert message in place."""
    user = body["user"]["id"]
    if not USER_ID.match(user):
        return
    notes = []
    for task, label in labels:
        try:
            done = await bot.store.call(service.correct, bot.store, bot.settings, item, label, user, "slack", task)
        except ServiceError as exc:
            notes.append(note(messages.error(str(exc))))
            continue
        notes.append(messages.correction_note(user, done.task, done.old_label, done.new_label))
    await add_notes(client, body, notes)


def register(app: AsyncApp, bot: Bot) -> None:
    """Listen to the alert messages' buttons and menus."""

    @app.action(re.compile(r"^lookout_relabel"))
    async def relabel(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await bot.refresh()
        action = body["actions"][0]
        task, choice = action["action_id"].partition(":")[2], json.loads(action["selected_option"]["value"])
        names = next(([x.name for x in t.labels] for t in bot.settings.tasks if t.name == task), [])
        index = choice["l"]
        if not (isinstance(index, int) and 0 <= index < len(names) and label_key(names[index]) == choice["k"]):
            await add_notes(client, body, [note(messages.error(messages.labels_changed(task)))])
            return
        await correct(bot, client, body, [(task, names[index])], choice["i"])

    @app.action(re.compile(r"^lookout_answer"))
    async def answer(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await bot.refresh()
        choice = json.loads(body["actions"][0]["value"])
        await correct(bot, client, body, [(choice["t"], choice["l"])], choice["i"])

    @app.action("lookout_confirm")
    async def confirm(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await bot.refresh()
        item = json.loads(body["actions"][0]["value"])["i"]
        current = await bot.store.read(bot.store.labels_of, item)
        await correct(bot, client, body, sorted(current.items()), item)

    @app.action("lookout_open")
    async def opened(ack: AsyncAck) -> None:
        await ack()
