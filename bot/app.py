"""The Slack app: thin Bolt listeners that ack at once, parse with a pure function, call the shared service and
answer; slow work (semantic search) runs after the ack and answers through ``respond``."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond, AsyncSay
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages
from bot.access import ChannelMembers, enforce, redact_url
from bot.commands import UsageError, intent, parse
from monitor import service
from monitor.config.schema import Settings
from monitor.learning import runs
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.taxonomy import workflow
from monitor.taxonomy.workflow import with_stored_tasks

Encode = Callable[[Sequence[str]], np.ndarray]
log = logging.getLogger(__name__)
USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")


def build_app(configured: Settings, store: Store, client: AsyncWebClient, encoder: Callable[[], Encode],
              clock: Callable[[], float] = time.monotonic) -> AsyncApp:
    """The Bolt app; ``encoder`` is called once, on the first search, to load the model; ``clock`` times the
    channel-membership cache. Requests are authenticated before they reach it (``bot.server`` over HTTP, the
    Socket Mode connection otherwise), and ``bot.access`` checks who sends them."""
    app = AsyncApp(client=client, signing_secret="", request_verification_enabled=False)
    loaded: list[Encode] = []
    settings = configured
    enforce(app, configured.bot.admins, ChannelMembers(configured.bot.channels, clock=clock))

    async def refresh() -> None:
        """Take in the tasks accepted at run time (by the bot, or by `lookout taxonomy accept` meanwhile); every
        handler that reads tasks calls it first (one small SQLite read)."""
        nonlocal settings
        settings = await store.read(with_stored_tasks, configured, store)

    async def encode() -> Encode:
        if not loaded:
            loaded.append(await asyncio.to_thread(encoder))
        return loaded[0]

    @app.command("/lookout")
    async def lookout(ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond) -> None:
        try:
            cmd = parse(command.get("text", ""))
        except UsageError as exc:
            await ack(response_type="ephemeral", text=str(exc))
            return
        user = command.get("user_id", "")
        await refresh()
        try:
            if cmd.name == "help":
                await ack(response_type="ephemeral", text=messages.HELP)
            elif cmd.name == "status":
                await ack(response_type="ephemeral", text=messages.status_text(
                    await store.read(store.status), await store.read(runs.model_summary, store, settings)))
            elif cmd.name == "retrain":
                task = cmd.args[0] if cmd.args else None
                queued = await store.call(runs.request_retrain, store, settings, task, "slack", user,
                                          command.get("channel_id", ""))
                await ack(response_type="ephemeral", text="\n".join(
                    messages.retrain_busy(name, run_id) for name, run_id, new in queued if not new)
                    or messages.RETRAIN_QUEUED)
                for name, run_id, new in queued:
                    if new:
                        await _open_thread(store, app.client, run_id, command.get("channel_id", ""),
                                           messages.retrain_queued(name, user))
            elif cmd.name == "topics":
                await ack(response_type="ephemeral", text=await _topics(store, settings, cmd.args))
            elif cmd.name == "taxonomy":
                size = int(cmd.args[0]) if cmd.args else settings.taxonomy.size
                await ack(response_type="ephemeral", text=messages.PROPOSING)
                try:
                    proposal = await store.call(workflow.propose, store, settings, size, user, 0.0,
                                                command.get("channel_id", ""))
                except ServiceError as exc:
                    await respond(response_type="ephemeral", text=messages.error(str(exc)))
                    return
                try:
                    posted = await app.client.chat_postMessage(
                        channel=command.get("channel_id", ""), text=f"Taxonomy proposal #{proposal['id']}",
                        blocks=blocks.taxonomy_blocks(proposal))
                except SlackApiError as exc:
                    await respond(response_type="ephemeral", text=messages.error(
                        f"proposal #{proposal['id']} is stored but could not be posted here "
                        f"({exc.response.get('error')}); invite the bot to this channel and ask again"))
                    return
                await store.call(partial(store.update_proposal, proposal["id"], channel=posted["channel"],
                                         ts=posted["ts"]))
            elif cmd.name == "trends":
                hours = int(cmd.args[0]) if cmd.args else 24
                report = await store.read(service.trend_report, store, float(hours))
                await ack(response_type="ephemeral", text=messages.trends_text(report, hours))
            elif cmd.name == "topic":
                found = await store.read(service.topic, store, cmd.args[0])
                await ack(response_type="ephemeral", text=messages.topic_text(found))
            elif cmd.name == "mute":
                found = await store.call(service.mute, store, cmd.args[0], user)
                await ack(response_type="in_channel", text=messages.muted(found))
            elif cmd.name == "watch":
                await ack(**await _watch(store, settings, cmd.args, user))
            elif cmd.name == "label":
                task = cmd.args[2] if len(cmd.args) == 3 else None
                done = await store.call(service.correct, store, settings, cmd.args[0], cmd.args[1], user, "slack",
                                        task)
                await ack(response_type="ephemeral",
                          text=messages.corrected(done.title, done.task, done.old_label, done.new_label))
            elif cmd.name == "search":
                await ack(response_type="ephemeral", text=messages.SEARCHING)
                query = " ".join(cmd.args)
                rows = await store.read(service.search, store, await encode(), query)
                await respond(response_type="ephemeral", text=messages.search_text(query, rows))
        except ServiceError as exc:
            await ack(response_type="ephemeral", text=messages.error(str(exc)))

    @app.action("lookout_tax_label")
    async def tax_label(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        choice = json.loads(body["actions"][0]["selected_option"]["value"])
        try:
            if choice["a"] == "edit":
                found = await store.call(workflow.open_proposal, store, choice["p"])
                label = next(x for x in found["labels"] if x["name"] == choice["l"])
                await client.views_open(trigger_id=body["trigger_id"], view=blocks.edit_label_view(choice["p"], label))
                return
            if choice["a"] == "drop":
                found = await store.call(workflow.drop, store, choice["p"], choice["l"])
            else:
                found = await store.call(workflow.merge, store, choice["p"], choice["l"], choice["i"])
        except ServiceError as exc:
            await respond(response_type="ephemeral", replace_original=False, text=messages.error(str(exc)))
            return
        await _show_proposal(client, found)

    @app.action("lookout_tax_discard")
    async def tax_discard(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        try:
            found = await store.call(workflow.discard, store, json.loads(body["actions"][0]["value"])["p"])
        except ServiceError as exc:
            await respond(response_type="ephemeral", replace_original=False, text=messages.error(str(exc)))
            return
        await _show_proposal(client, found)

    @app.action("lookout_tax_accept")
    async def tax_accept(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"],
                                view=blocks.accept_view(json.loads(body["actions"][0]["value"])["p"]))

    @app.view("lookout_tax_edit")
    async def tax_edited(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient) -> None:
        meta, values = json.loads(view["private_metadata"]), view["state"]["values"]
        try:
            found = await store.call(workflow.edit, store, meta["p"], meta["l"], values["name"]["value"]["value"],
                                     values["description"]["value"]["value"] or "")
        except ServiceError as exc:
            await ack(response_action="errors", errors={"name": str(exc)})
            return
        await ack()
        await _show_proposal(client, found)

    @app.view("lookout_tax_accept")
    async def tax_accepted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
                           ) -> None:
        meta, user = json.loads(view["private_metadata"]), body["user"]["id"]
        task = (view["state"]["values"]["task"]["value"]["value"] or "").strip()
        try:
            done = await store.call(workflow.accept, store, settings, meta["p"], None, task, user)
        except ServiceError as exc:
            await ack(response_action="errors", errors={"task": str(exc)})
            return
        await ack()
        await refresh()
        (_, run_id, _), = await store.call(runs.request_retrain, store, settings, task, "taxonomy", user)
        found = await store.call(store.proposal, meta["p"])
        await _show_proposal(client, found)
        await _open_thread(store, client, run_id, found["channel"], messages.accepted(done, user, run_id),
                           thread=found["ts"])

    @app.action(re.compile(r"^lookout_relabel"))
    async def relabel(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await refresh()
        choice = json.loads(body["actions"][0]["selected_option"]["value"])
        await _correct(store, settings, client, body, [(choice["t"], choice["l"])], choice["i"])

    @app.action(re.compile(r"^lookout_answer"))
    async def answer(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await refresh()
        choice = json.loads(body["actions"][0]["value"])
        await _correct(store, settings, client, body, [(choice["t"], choice["l"])], choice["i"])

    @app.action("lookout_confirm")
    async def confirm(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await refresh()
        item = json.loads(body["actions"][0]["value"])["i"]
        current = await store.read(store.labels_of, item)
        await _correct(store, settings, client, body, sorted(current.items()), item)

    @app.action("lookout_open")
    async def opened(ack: AsyncAck) -> None:
        await ack()

    @app.action("lookout_mute")
    async def mute(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        user = body["user"]["id"]
        topic_id = int(json.loads(body["actions"][0]["value"])["t"])
        await store.call(service.mute, store, str(topic_id), user)
        await _update(client, body, [messages.mute_note(user, topic_id)])

    async def converse(text: str, say: AsyncSay, thread: str | None) -> None:
        cmd = intent(text)
        if cmd.name == "topics":
            answer = await _topics(store, settings, ())
        elif cmd.name == "search":
            query = " ".join(cmd.args)
            answer = messages.search_text(query, await store.read(service.search, store, await encode(), query))
        else:
            answer = messages.NOT_UNDERSTOOD + messages.HELP
        await say(text=answer, thread_ts=thread)

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab") not in (None, "home"):
            return
        await refresh()
        status = await store.read(store.status)
        view = messages.home_view(status, await _topics(store, settings, ("5",)),
                                  await store.read(store.recent_alerts, 5),
                                  await store.read(runs.model_summary, store, settings))
        await client.views_publish(user_id=event["user"], view=view)

    @app.event("app_mention")
    async def mentioned(event: dict[str, Any], say: AsyncSay) -> None:
        await converse(event.get("text", ""), say, event.get("thread_ts") or event.get("ts"))

    @app.event("message")
    async def direct(event: dict[str, Any], say: AsyncSay) -> None:
        if event.get("channel_type") == "im" and not event.get("bot_id") and not event.get("subtype"):
            await converse(event.get("text", ""), say, None)

    return app


async def _show_proposal(client: AsyncWebClient, proposal: dict[str, Any]) -> None:
    """Redraw a proposal's message after a change."""
    if proposal.get("channel") and proposal.get("ts"):
        await client.chat_update(channel=proposal["channel"], ts=proposal["ts"],
                                 text=f"Taxonomy proposal #{proposal['id']}", blocks=blocks.taxonomy_blocks(proposal))


async def _watch(store: Store, settings: Settings, args: tuple[str, ...], user: str) -> dict[str, str]:
    """The answer to ``watch list|add|remove``; URLs are shown without their credentials."""
    action, rest = args[0], args[1:]
    if action == "list":
        rows = await store.read(service.watches, store, settings)
        return {"response_type": "ephemeral",
                "text": messages.watch_list([{**r, "target": redact_url(r["target"])} for r in rows])}
    if action == "remove":
        await store.call(service.remove_watch, store, settings, rest[0])
        return {"response_type": "in_channel", "text": messages.unwatched(rest[0])}
    kind, rest = ("keyword", rest[1:]) if rest[0].lower() == "keyword" else ("feed", rest)
    target = rest[0].strip("<>").split("|")[0] if kind == "feed" else rest[0]
    name = await store.call(service.add_watch, store, settings, kind, target, rest[1] if len(rest) > 1 else None,
                            user)
    return {"response_type": "in_channel", "text": messages.watching(kind, name, redact_url(target))}


async def _topics(store: Store, settings: Settings, args: tuple[str, ...]) -> str:
    n = int(args[0]) if args else 5
    topics = await store.read(service.topic_tree, store, settings, n, settings.topics.min_size)
    if not topics:
        return messages.NO_TOPICS.format(n=settings.topics.min_size)
    titles = await store.read(store.titles, [t["representatives"][0][1] for t in topics if t["representatives"]])
    return messages.topics_text(topics, titles)


async def _correct(store: Store, settings: Settings, client: AsyncWebClient, body: dict[str, Any],
                   labels: list[tuple[str, str]], item: str) -> None:
    """Store corrections from a button or menu and show them on the alert message in place."""
    user = body["user"]["id"]
    if not USER_ID.match(user):
        return
    notes = []
    for task, label in labels:
        try:
            done = await store.call(service.correct, store, settings, item, label, user, "slack", task)
        except ServiceError as exc:
            notes.append(_note(messages.error(str(exc))))
            continue
        notes.append(messages.correction_note(user, done.task, done.old_label, done.new_label))
    await _update(client, body, notes)


async def _open_thread(store: Store, client: AsyncWebClient, run_id: int, channel: str, text: str,
                       thread: str = "") -> None:
    """Post the message a training run's progress will follow under (in ``thread`` when given); without it the
    daemon starts the thread in ``slack.channel``."""
    try:
        posted = await client.chat_postMessage(channel=channel, text=text, thread_ts=thread or None)
    except SlackApiError as exc:
        log.warning("could not start the thread for training run #%d in %s: %s", run_id, channel,
                    exc.response.get("error"))
        return
    await store.call(store.notes_sent, run_id, 0, channel, thread or str(posted["ts"]))


def _note(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


async def _update(client: AsyncWebClient, body: dict[str, Any], notes: list[dict[str, Any]]) -> None:
    """Show ``notes`` under the alert message the action came from (chat.update keeps it in place)."""
    message = body.get("message") or {}
    blocks = [*message.get("blocks", []), *notes][-50:]
    await client.chat_update(channel=body["channel"]["id"], ts=message["ts"], blocks=blocks,
                             text=message.get("text", ""))
