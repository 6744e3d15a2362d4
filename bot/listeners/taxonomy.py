"""The taxonomy proposal's message and modals: drop, merge or edit a proposed label, discard the proposal, accept
it as a task (which queues its first training run in the proposal's thread)."""

from __future__ import annotations

import json
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import blocks, messages
from bot.listeners.context import Bot
from monitor.learning import runs
from monitor.service import ServiceError
from monitor.taxonomy import workflow


async def show(client: AsyncWebClient, proposal: dict[str, Any]) -> None:
    """Redraw a proposal's message after a change."""
    if proposal.get("channel") and proposal.get("ts"):
        await client.chat_update(channel=proposal["channel"], ts=proposal["ts"],
                                 text=f"Taxonomy proposal #{proposal['id']}", blocks=blocks.taxonomy_blocks(proposal))


def register(app: AsyncApp, bot: Bot) -> None:
    """Listen to the proposal's menus, buttons and modals."""
    register_message(app, bot)
    register_modals(app, bot)


def register_message(app: AsyncApp, bot: Bot) -> None:
    """The proposal message's label menus, Discard and Accept buttons."""
    store = bot.store

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
        await show(client, found)

    @app.action("lookout_tax_discard")
    async def tax_discard(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        try:
            found = await store.call(workflow.discard, store, json.loads(body["actions"][0]["value"])["p"])
        except ServiceError as exc:
            await respond(response_type="ephemeral", replace_original=False, text=messages.error(str(exc)))
            return
        await show(client, found)

    @app.action("lookout_tax_accept")
    async def tax_accept(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"],
                                view=blocks.accept_view(json.loads(body["actions"][0]["value"])["p"]))


def register_modals(app: AsyncApp, bot: Bot) -> None:
    """The Edit label and Accept as task modals."""
    store = bot.store

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
        await show(client, found)

    @app.view("lookout_tax_accept")
    async def tax_accepted(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], client: AsyncWebClient
                           ) -> None:
        meta, user = json.loads(view["private_metadata"]), body["user"]["id"]
        task = (view["state"]["values"]["task"]["value"]["value"] or "").strip()
        try:
            done = await store.call(workflow.accept, store, bot.settings, meta["p"], None, task, user)
        except ServiceError as exc:
            await ack(response_action="errors", errors={"task": str(exc)})
            return
        await ack()
        await bot.refresh()
        (_, run_id, _), = await store.call(runs.request_retrain, store, bot.settings, task, "taxonomy", user)
        found = await store.call(store.proposal, meta["p"])
        await show(client, found)
        await bot.open_thread(client, run_id, found["channel"], messages.accepted(done, user, run_id),
                              thread=found["ts"])
