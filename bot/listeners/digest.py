"""``/lookout digest`` (today's digest posted in the channel now) and ``/lookout digest schedule daily 08:00``,
``weekly mon 08:00`` or ``off`` (kept in the store; the daemon follows it within seconds, in ``time.timezone``).
``HANDLERS`` is merged into ``bot.listeners.commands.HANDLERS``."""

from __future__ import annotations

import time
from datetime import datetime
from typing import TYPE_CHECKING

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages
from bot.commands import Command
from bot.listeners.context import Bot
from bot.mrkdwn import escape
from monitor.daemon.schedule import (
    DigestSchedule,
    digest_cron,
    next_digest,
    parse_schedule,
    store_schedule,
    stored_schedule,
    zone,
)
from monitor.reports import digest as digests
from monitor.reports.digest import Digest

if TYPE_CHECKING:
    from bot.listeners.commands import Handler, Request


async def build(bot: Bot) -> Digest:
    """Today's digest as the schedule would post it (the last ``digest.hours``), its chart drawn on a reader
    thread."""
    d = bot.settings.digest
    folder = digests.report_dir(bot.settings.store.path, d.report_dir)
    return await bot.store.read(digests.build, bot.store, d.hours, d.history, d.limit, folder)


async def post(bot: Bot, client: AsyncWebClient, channel: str) -> None:
    """Build today's digest and post it to ``channel`` (a user id posts it in their messages with Lookout), its chart
    uploaded into the message's thread; raises ``SlackApiError`` when Slack refuses."""
    digest = await build(bot)
    tz = bot.settings.time.timezone
    posted = await client.chat_postMessage(channel=channel, text=escape(blocks.digest_title(digest, tz)),
                                           blocks=blocks.digest_blocks(digest, tz), unfurl_links=False,
                                           unfurl_media=False)
    if digest.chart is not None:
        await client.files_upload_v2(channel=str(posted["channel"]), file=str(digest.chart),
                                     title="Busiest topics over time", thread_ts=str(posted["ts"]))


async def schedule_text(bot: Bot) -> str:
    """When the next digest goes out, for ``status`` and the App Home."""
    stored = await bot.store.read(stored_schedule, bot.store)
    cron = digest_cron(bot.settings, stored)
    text = stored.text if stored is not None else f"`{cron}`"
    return messages.schedule_line(text, bot.settings.time.timezone, _next(bot, stored))


def _next(bot: Bot, stored: DigestSchedule | None) -> float | None:
    found = next_digest(bot.settings, stored, datetime.now(zone(bot.settings)))
    return found.timestamp() if found else None


async def _digest(bot: Bot, cmd: Command, req: Request) -> None:
    if cmd.args:
        schedule = parse_schedule(cmd.args[1:], req.user, time.time())
        await bot.store.call(store_schedule, bot.store, schedule)
        await req.ack(response_type="in_channel", text=messages.schedule_set(
            req.user, schedule.text, bot.settings.time.timezone, _next(bot, schedule)))
        return
    await req.ack(response_type="ephemeral", text=messages.DIGEST_BUILDING)
    try:
        await post(bot, req.client, req.channel)
    except SlackApiError as exc:
        await req.respond(response_type="ephemeral", text=messages.digest_not_posted(
            str(exc.response.get("error"))))


HANDLERS: dict[str, Handler] = {"digest": _digest}
