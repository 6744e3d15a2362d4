"""``/lookout subscribe``, ``subscriptions`` and ``unsubscribe``: a channel's own alerts. The handlers are merged
into ``bot.listeners.commands.HANDLERS``; what a subscription does is ``monitor.subscriptions``'s."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import messages
from bot.access import redact_url
from bot.commands import Command
from bot.listeners.context import Bot
from monitor import subscriptions
from monitor.store.subscriptions import Subscription

if TYPE_CHECKING:
    from bot.listeners.commands import Handler, Request


def shown(sub: Subscription) -> str:
    """A subscription's target as the channel may see it (a feed URL without its credentials)."""
    return redact_url(sub.target) if sub.kind == "feed" else sub.target


async def _subscribe(bot: Bot, cmd: Command, req: Request) -> None:
    words = [cmd.args[0].strip("<>").split("|")[0], *cmd.args[1:]] if len(cmd.args) == 1 else list(cmd.args)
    kind, target = subscriptions.parse_spec(words)
    sub = await bot.store.call(subscriptions.subscribe, bot.store, bot.settings, req.channel, kind, target, req.user)
    await req.ack(response_type="in_channel", text=messages.subscribed(sub, shown(sub)))


async def _subscriptions(bot: Bot, cmd: Command, req: Request) -> None:
    subs = await bot.store.read(bot.store.subscriptions, req.channel)
    await req.ack(response_type="ephemeral",
                  text=messages.subscription_list([messages.subscription_line(s, shown(s)) for s in subs]))


async def _unsubscribe(bot: Bot, cmd: Command, req: Request) -> None:
    sub, stopped = await bot.store.call(subscriptions.unsubscribe, bot.store, req.channel, cmd.args[0])
    await req.ack(response_type="in_channel", text=messages.unsubscribed(sub, shown(sub), stopped))


HANDLERS: dict[str, Handler] = {"subscribe": _subscribe, "subscriptions": _subscriptions,
                                "unsubscribe": _unsubscribe}
