"""Events: the App Home tab (with its search modal and digest button), mentions and direct messages (answered by
intent: topics, a search, or help)."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import home, messages
from bot.access import redact_url
from bot.commands import intent
from bot.listeners import digest
from bot.listeners.context import Bot, log
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


NOT_SOURCES = ("rule", "keyword")


async def gather(bot: Bot) -> home.Home:
    """What the App Home tab shows, read from the store."""
    await bot.refresh()
    store, settings = bot.store, bot.settings
    status = await store.read(store.status, settings.time.timezone)
    configured = [w for w in await store.read(service.watches, store, settings) if w["kind"] not in NOT_SOURCES]
    mutes = [(t, m) for m in await store.read(store.mutes) if (t := await store.read(store.topic, m.on))]
    return home.Home(first_run=not (status["sources"] or configured or settings.tasks), status=status,
                     schedule=await digest.schedule_text(bot), topics=await bot.topics(("5",)),
                     alerts=await store.read(store.recent_alerts, 5), mutes=mutes,
                     models=await store.read(runs.model_summary, store, settings), zone=settings.time.timezone,
                     subscriptions=tuple((s.channel, messages.subscription_line(s, redact_url(s.target)))
                                         for s in await store.read(store.subscriptions)))


def register(app: AsyncApp, bot: Bot) -> None:
    """Listen to App Home openings and its buttons and modal, mentions and direct messages."""

    @app.event("app_home_opened")
    async def home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        await client.views_publish(user_id=event["user"], view=home.home_view(await gather(bot)))

    @app.action("lookout_home_search")
    async def search_opened(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=home.search_modal())

    @app.view("lookout_search")
    async def searched(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        query = (view["state"]["values"]["query"]["value"]["value"] or "").strip()
        if not query:
            await ack(response_action="errors", errors={"query": "Type a few words to look for."})
            return
        await ack(response_action="update", view=home.searching_modal(query))
        rows = await bot.store.read(service.search, bot.store, await bot.encode(), query)
        await client.views_update(view_id=view["id"], view=home.results_modal(query, rows))

    @app.action("lookout_home_digest")
    async def digest_asked(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await bot.refresh()
        user = body["user"]["id"]
        try:
            await digest.post(bot, client, user)
        except SlackApiError as exc:
            log.warning("today's digest could not be sent to %s: %s", user, exc.response.get("error"))

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], say: AsyncSay) -> None:
        await converse(bot, event.get("text", ""), say, event.get("thread_ts") or event.get("ts"))

    @app.event("message")
    async def direct(event: dict[str, Any], say: AsyncSay) -> None:
        if event.get("channel_type") == "im" and not event.get("bot_id") and not event.get("subtype"):
            await converse(bot, event.get("text", ""), say, None)
