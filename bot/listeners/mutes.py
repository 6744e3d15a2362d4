"""Mutes: ``/lookout mute``, ``mutes`` and ``unmute`` (``HANDLERS``, which ``/lookout`` takes in), the alert's Mute
button (Slack asks for a confirmation first) and the Undo button on the line a mute leaves."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.blocks import undo_mute
from bot.commands import Command
from bot.listeners.context import Bot, add_notes, note
from monitor import service
from monitor.service import MuteRequest, ServiceError

if TYPE_CHECKING:
    from bot.listeners.commands import Handler, Request


async def _mute(bot: Bot, cmd: Command, req: Request) -> None:
    asked = service.mute_request(cmd.args, time.time())
    found = await bot.store.call(service.mute, bot.store, bot.settings, asked, req.user)
    text = messages.muted(found, asked.rule, asked.until)
    await req.ack(response_type="in_channel", text=text,
                  blocks=undo_mute(found.id, asked.rule, f":mute: {text}", str(time.time_ns())))


async def _mutes(bot: Bot, cmd: Command, req: Request) -> None:
    rows = await bot.store.read(bot.store.mutes)
    await req.ack(response_type="ephemeral", text=messages.mutes_text(rows))


async def _unmute(bot: Bot, cmd: Command, req: Request) -> None:
    lifted = await bot.store.call(service.unmute, bot.store, cmd.args[0], cmd.args[1] if len(cmd.args) > 1 else None)
    await req.ack(response_type="in_channel", text=messages.unmuted(req.user, lifted))


HANDLERS: dict[str, Handler] = {"mute": _mute, "mutes": _mutes, "unmute": _unmute}


def register(app: AsyncApp, bot: Bot) -> None:
    """Listen to the Mute and Undo buttons."""

    @app.action("lookout_mute")
    async def mute(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user, action = body["user"]["id"], body["actions"][0]
        value = json.loads(action["value"])
        topic_id, rule = int(value["t"]), str(value.get("r", ""))
        try:
            await bot.store.call(service.mute, bot.store, bot.settings, MuteRequest(str(topic_id), rule), user)
        except ServiceError as exc:
            await add_notes(client, body, [note(messages.error(str(exc)))])
            return
        await add_notes(client, body, undo_mute(topic_id, rule, messages.mute_note_text(user, topic_id, rule, None),
                                                str(action.get("action_ts", ""))))

    @app.action("lookout_unmute")
    async def undo(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Lift the mute and put a line saying so where its Undo button was."""
        await ack()
        action = body["actions"][0]
        value = json.loads(action["value"])
        try:
            lifted = await bot.store.call(service.unmute, bot.store, str(int(value["t"])), str(value.get("r", "")))
        except ServiceError as exc:
            await respond(response_type="ephemeral", replace_original=False, text=messages.error(str(exc)))
            return
        message = body.get("message") or {}
        line = note(messages.unmuted(body["user"]["id"], lifted))
        blocks = [line if b.get("block_id") == action.get("block_id") else b for b in message.get("blocks", [])]
        await respond(replace_original=True, text=message.get("text", ""), blocks=blocks or [line])
