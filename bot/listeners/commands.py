"""``/lookout``: the command is parsed by a pure function (``bot.commands``) and answered by the handler its name
maps to in ``HANDLERS``; a handler that fails with a ``ServiceError`` answers with the reason."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages
from bot.access import redact_url
from bot.commands import Command, UsageError, parse
from bot.listeners import digest, mutes
from bot.listeners.context import Bot
from bot.listeners.subscriptions import HANDLERS as SUBSCRIPTION_HANDLERS
from monitor import service
from monitor.learning import runs
from monitor.service import ServiceError
from monitor.taxonomy import workflow


@dataclass(frozen=True)
class Request:
    """One ``/lookout`` invocation: who sent it, from where, and how to answer."""

    ack: AsyncAck
    respond: AsyncRespond
    client: AsyncWebClient
    user: str
    channel: str


Handler = Callable[[Bot, Command, Request], Awaitable[None]]


async def _help(bot: Bot, cmd: Command, req: Request) -> None:
    await req.ack(response_type="ephemeral", text=messages.HELP)


async def _status(bot: Bot, cmd: Command, req: Request) -> None:
    await req.ack(response_type="ephemeral", text=messages.status_text(
        await bot.store.read(bot.store.status, bot.settings.time.timezone),
        await bot.store.read(runs.model_summary, bot.store, bot.settings), await digest.schedule_text(bot)))


async def _retrain(bot: Bot, cmd: Command, req: Request) -> None:
    task = cmd.args[0] if cmd.args else None
    queued = await bot.store.call(runs.request_retrain, bot.store, bot.settings, task, "slack", req.user, req.channel)
    await req.ack(response_type="ephemeral", text="\n".join(
        messages.retrain_busy(name, run_id) for name, run_id, new in queued if not new) or messages.RETRAIN_QUEUED)
    for name, run_id, new in queued:
        if new:
            await bot.open_thread(req.client, run_id, req.channel, messages.retrain_queued(name, req.user))


async def _topics(bot: Bot, cmd: Command, req: Request) -> None:
    await req.ack(response_type="ephemeral", text=await bot.topics(cmd.args))


async def _taxonomy(bot: Bot, cmd: Command, req: Request) -> None:
    size = int(cmd.args[0]) if cmd.args else bot.settings.taxonomy.size
    await req.ack(response_type="ephemeral", text=messages.PROPOSING)
    try:
        proposal = await bot.store.call(workflow.propose, bot.store, bot.settings, size, req.user, 0.0, req.channel)
    except ServiceError as exc:
        await req.respond(response_type="ephemeral", text=messages.error(str(exc)))
        return
    try:
        posted = await req.client.chat_postMessage(channel=req.channel, text=f"Taxonomy proposal #{proposal['id']}",
                                                   blocks=blocks.taxonomy_blocks(proposal))
    except SlackApiError as exc:
        await req.respond(response_type="ephemeral", text=messages.error(
            f"proposal #{proposal['id']} is stored but could not be posted here "
            f"({exc.response.get('error')}); invite the bot to this channel and ask again"))
        return
    await bot.store.call(partial(bot.store.update_proposal, proposal["id"], channel=posted["channel"],
                                 ts=posted["ts"]))


async def _trends(bot: Bot, cmd: Command, req: Request) -> None:
    hours = int(cmd.args[0]) if cmd.args else 24
    report = await bot.store.read(service.trend_report, bot.store, float(hours))
    await req.ack(response_type="ephemeral", text=messages.trends_text(report, hours))


async def _topic(bot: Bot, cmd: Command, req: Request) -> None:
    found = await bot.store.read(service.topic, bot.store, cmd.args[0])
    await req.ack(response_type="ephemeral", text=messages.topic_text(found, bot.settings.time.timezone))


async def _label(bot: Bot, cmd: Command, req: Request) -> None:
    task = cmd.args[2] if len(cmd.args) == 3 else None
    done = await bot.store.call(service.correct, bot.store, bot.settings, cmd.args[0], cmd.args[1], req.user,
                                "slack", task)
    await req.ack(response_type="ephemeral",
                  text=messages.corrected(done.title, done.task, done.old_label, done.new_label))


async def _search(bot: Bot, cmd: Command, req: Request) -> None:
    await req.ack(response_type="ephemeral", text=messages.SEARCHING)
    query = " ".join(cmd.args)
    rows = await bot.store.read(service.search, bot.store, await bot.encode(), query)
    await req.respond(response_type="ephemeral", text=messages.search_text(query, rows))


async def _watch(bot: Bot, cmd: Command, req: Request) -> None:
    """``watch list|add|remove``; URLs are shown without their credentials."""
    store, settings = bot.store, bot.settings
    action, rest = cmd.args[0], cmd.args[1:]
    if action == "list":
        rows = await store.read(service.watches, store, settings)
        await req.ack(response_type="ephemeral",
                      text=messages.watch_list([{**r, "target": redact_url(r["target"])} for r in rows]))
        return
    if action == "remove":
        await store.call(service.remove_watch, store, settings, rest[0])
        await req.ack(response_type="in_channel", text=messages.unwatched(rest[0]))
        return
    kind, rest = ("keyword", rest[1:]) if rest[0].lower() == "keyword" else ("feed", rest)
    target = rest[0].strip("<>").split("|")[0] if kind == "feed" else rest[0]
    name = await store.call(service.add_watch, store, settings, kind, target, rest[1] if len(rest) > 1 else None,
                            req.user)
    await req.ack(response_type="in_channel", text=messages.watching(kind, name, redact_url(target)))


HANDLERS: dict[str, Handler] = {
    "help": _help, "status": _status, "retrain": _retrain, "topics": _topics, "taxonomy": _taxonomy,
    "trends": _trends, "topic": _topic, "watch": _watch, "label": _label, "search": _search, **mutes.HANDLERS,
    **digest.HANDLERS, **SUBSCRIPTION_HANDLERS,
}


def register(app: AsyncApp, bot: Bot) -> None:
    """Answer ``/lookout`` through ``HANDLERS``."""

    @app.command("/lookout")
    async def lookout(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
                      ) -> None:
        try:
            cmd = parse(command.get("text", ""))
        except UsageError as exc:
            await ack(response_type="ephemeral", text=str(exc))
            return
        await bot.refresh()
        req = Request(ack, respond, client, command.get("user_id", ""), command.get("channel_id", ""))
        try:
            await HANDLERS[cmd.name](bot, cmd, req)
        except ServiceError as exc:
            await ack(response_type="ephemeral", text=messages.error(str(exc)))
