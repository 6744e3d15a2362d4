"""The Slack app: thin Bolt listeners that ack at once, parse with a pure function, call the shared service and
answer; slow work (semantic search) runs after the ack and answers through ``respond``. The listeners live in
``bot.listeners``, one module per kind of request; who may send what is checked in ``bot.access``."""

from __future__ import annotations

import time
from collections.abc import Callable

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import ChannelMembers, enforce
from bot.listeners import alerts, commands, events, mutes, reactions, taxonomy
from bot.listeners.context import Bot, Encode
from monitor.config.schema import Settings
from monitor.store.db import Store

LISTENERS = (commands, alerts, taxonomy, events, mutes, reactions)


def build_app(configured: Settings, store: Store, client: AsyncWebClient, encoder: Callable[[], Encode],
              clock: Callable[[], float] = time.monotonic) -> AsyncApp:
    """The Bolt app; ``encoder`` is called once, on the first search, to load the model; ``clock`` times the
    channel-membership cache. Requests are authenticated before they reach it (``bot.server`` over HTTP, the
    Socket Mode connection otherwise), and ``bot.access`` checks who sends them."""
    app = AsyncApp(client=client, signing_secret="", request_verification_enabled=False)
    enforce(app, configured.bot.admins, ChannelMembers(configured.bot.channels, clock=clock))
    bot = Bot(configured, store, encoder)
    for listeners in LISTENERS:
        listeners.register(app, bot)
    return app
