"""Events: the App Home tab, mentions and direct messages (answered by intent: topics, a search, or help)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncSay
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.commands import intent
from bot.listeners.context import Bot
from monitor import service
from monitor.learning import runs


async def converse(bot: Bot, text: str, say: AsyncSay, thread: str | None) -> None:
    """Answer a mention or a direct message."""
    cmd = intent(text)
    if cmd.name == "topics":
        answer = await bot.topics(())
    elif cmd.name == "search":
        query = " ".join(cmd.args)
        answer = messages.search_text(query, await bot.store.read(service.search, bot.store, await bot.encode(), query))
    else:
        answer = messages.NOT_UNDERSTOOD + messages.HELP
    await say(text=answer, thread_ts=thread)


def register(app: AsyncApp, bot: Bot) -> None:
    """Listen to App Home openings, mentions and direct messages."""

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        await bot.refresh()
        store = bot.store
        view = messages.home_view(await store.read(store.status), await bot.topics(("5",)),
                                  await store.read(store.recent_alerts, 5),
                                  await store.read(runs.model_summary, store, bot.settings))
        await client.views_publish(user_id=event["user"], view=view)

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], say: AsyncSay) -> None:
        await converse(bot, event.get("text", ""), say, event.get("thread_ts") or event.get("ts"))

    @app.event("message")
    async def direct(event: dict[str, Any], say: AsyncSay) -> None:
        if event.get("channel_type") == "im" and not event.get("bot_id") and not event.get("subtype"):
            await converse(bot, event.get("text", ""), say, None)
