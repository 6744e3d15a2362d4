"""The ``lookout`` console script: the monitor's command line, with Slack delivery and ``lookout bot`` added."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from bot.app import build_app
from bot.notifier import make_notifier, slack_client
from bot.server import make_web_app
from models.embedding import Encoder
from monitor.cli import CommandAdder, NotifierFactory, load_cli_settings
from monitor.cli import main as monitor_main
from monitor.config import ConfigError
from monitor.store import Store

log = logging.getLogger("lookout.bot")


def cmd_bot(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    secret = settings.secrets.get("SLACK_SIGNING_SECRET", "")
    if not secret or not settings.slack_bot_token:
        raise ConfigError("`lookout bot` needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET in the environment")
    store = Store(settings.store.path)
    m = settings.model

    def encoder() -> Encoder:
        return Encoder(m.embedding, device=m.device, batch_size=m.batch_size, max_chars=m.max_chars)

    async def serve() -> None:
        client = slack_client(settings.slack_bot_token, settings.slack.base_url)
        app = build_app(settings, store, secret, client, lambda: encoder().encode)
        runner = web.AppRunner(make_web_app(app), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, settings.bot.host, settings.bot.port).start()
        log.info("Slack app listening on http://%s:%d/slack/events", settings.bot.host, settings.bot.port)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass
    finally:
        store.close()
    return 0


def add_bot(command: CommandAdder) -> None:
    command("bot", cmd_bot, "Serve the Slack app (slash command /lookout, alert buttons) on bot.host:bot.port.")


def main(argv: list[str] | None = None) -> int:
    return monitor_main(argv, notifier_factory=make_notifier, extra=add_bot)


if __name__ == "__main__":
    sys.exit(main())
