"""What every listener shares: the store, the settings (with the tasks accepted at run time), the encoder loaded on
first use, and the small Slack helpers that redraw a message or start a thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import messages
from monitor import service
from monitor.config.schema import Settings
from monitor.store.db import Store
from monitor.taxonomy.workflow import with_stored_tasks

Encode = Callable[[Sequence[str]], np.ndarray]
log = logging.getLogger(__name__)


@dataclass
class Bot:
    """The state the listeners share; ``settings`` is refreshed by ``refresh`` before a handler reads tasks."""

    configured: Settings
    store: Store
    encoder: Callable[[], Encode]
    settings: Settings = field(init=False)
    _loaded: list[Encode] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self.settings = self.configured

    async def refresh(self) -> None:
        """Take in the tasks accepted at run time (by the bot, or by `lookout taxonomy accept` meanwhile); every
        handler that reads tasks calls it first (one small SQLite read)."""
        self.settings = await self.store.read(with_stored_tasks, self.configured, self.store)

    async def encode(self) -> Encode:
        """The sentence encoder, loaded on the first search."""
        if not self._loaded:
            self._loaded.append(await asyncio.to_thread(self.encoder))
        return self._loaded[0]

    async def topics(self, args: tuple[str, ...]) -> str:
        """The answer to ``topics [N]``: the largest topics with their most typical item."""
        n = int(args[0]) if args else 5
        topics = await self.store.read(service.topic_tree, self.store, self.settings, n, self.settings.topics.min_size)
        if not topics:
            return messages.NO_TOPICS.format(n=self.settings.topics.min_size)
        titles = await self.store.read(self.store.titles, [t.typical_id for t in topics if t.typical_id])
        return messages.topics_text(topics, titles)

    async def open_thread(self, client: AsyncWebClient, run_id: int, channel: str, text: str,
                          thread: str = "") -> None:
        """Post the message a training run's progress will follow under (in ``thread`` when given); without it the
        daemon starts the thread in ``slack.channel``."""
        try:
            posted = await client.chat_postMessage(channel=channel, text=text, thread_ts=thread or None)
        except SlackApiError as exc:
            log.warning("could not start the thread for training run #%d in %s: %s", run_id, channel,
                        exc.response.get("error"))
            return
        await self.store.call(self.store.notes_sent, run_id, 0, channel, thread or str(posted["ts"]))


def note(text: str) -> dict[str, Any]:
    """A context block carrying one line under a message."""
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


async def add_notes(client: AsyncWebClient, body: dict[str, Any], notes: list[dict[str, Any]]) -> None:
    """Show ``notes`` under the message the action came from (chat.update keeps it in place); an ephemeral
    message, of which Slack sends no copy, is replaced by them through its ``response_url``."""
    message = body.get("message")
    if message is None:
        await AsyncWebhookClient(body["response_url"]).send(replace_original=True, blocks=notes, text=messages.RECORDED)
        return
    blocks = [*message.get("blocks", []), *notes][-50:]
    await client.chat_update(channel=body["channel"]["id"], ts=message["ts"], blocks=blocks,
                             text=message.get("text", ""))
