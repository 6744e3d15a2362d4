"""The ``lookout`` console script: the monitor's command line, with Slack delivery and ``lookout bot`` added."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Callable

from models.embedding import Encoder
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings
from monitor.cli.main import main as monitor_main
from monitor.config.schema import ConfigError, Settings
from monitor.daemon.notify import Notifier
from monitor.store.db import Store

log = logging.getLogger("lookout.bot")


def notifier(settings: Settings, write: Callable[[str], None]) -> Notifier:
    """Slack when ``SLACK_BOT_TOKEN`` is set, otherwise the console (slack_sdk is imported when a command asks)."""
    from bot.notifier import make_notifier

    return make_notifier(settings, write)


def cmd_bot(args: argparse.Namespace, _: NotifierFactory) -> int:
    from aiohttp import web
    from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

    from bot.app import build_app
    from bot.notifier import slack_client
    from bot.server import make_web_app

    settings = load_cli_settings(args, creates_store=True)
    secret = settings.secrets.get("SLACK_SIGNING_SECRET", "")
    app_token = settings.secrets.get("SLACK_APP_TOKEN", "")
    socket = settings.bot.mode == "socket"
    if not (settings.slack_bot_token or secret or app_token):
        return _without_slack(args.wait_without_tokens)
    if not settings.slack_bot_token or not (app_token if socket else secret):
        needs = "SLACK_APP_TOKEN (Socket Mode)" if socket else "SLACK_SIGNING_SECRET"
        raise ConfigError(f"`lookout bot` needs SLACK_BOT_TOKEN and {needs} in the environment")
    store = Store(settings.store.path)
    m = settings.model

    def encoder() -> Encoder:
        return Encoder(m.embedding, device=m.device, batch_size=m.batch_size, max_chars=m.max_chars)

    async def serve() -> None:
        client = slack_client(settings.slack_bot_token, settings.slack.base_url)
        app = build_app(settings, store, client, lambda: encoder().encode)
        if socket:
            log.info("Slack app connecting in Socket Mode")
            await AsyncSocketModeHandler(app, app_token, web_client=client).start_async()
            return
        runner = web.AppRunner(make_web_app(app, secret), access_log=None)
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


def _without_slack(wait: bool) -> int:
    """No Slack token at all: say so, and (``wait``) stay until stopped, so that a process manager running the
    daemon beside the Slack app (honcho, ``make up``) keeps the daemon."""
    stop = {signal.SIGINT, signal.SIGTERM}
    if wait:
        signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    print("lookout bot: no Slack tokens in the environment (SLACK_BOT_TOKEN, with SLACK_SIGNING_SECRET or "
          "SLACK_APP_TOKEN), so the Slack app is not started and alerts go to the console; docs/slack.md sets Slack "
          "up" + ("; waiting until stopped" if wait else ""), flush=True)
    if wait:
        signal.sigwait(stop)
    return 0


def add_bot(command: CommandAdder) -> None:
    p = command("bot", cmd_bot, "Serve the Slack app (slash command /lookout, alert buttons, App Home): over HTTP "
                                "on bot.host:bot.port, or in Socket Mode when bot.mode = \"socket\". Without any "
                                "Slack token it says so and exits 0.")
    p.add_argument("--wait-without-tokens", action="store_true",
                   help="without Slack tokens, wait until stopped instead of exiting (the Procfile uses it, so that "
                        "honcho keeps the daemon running)")


def main(argv: list[str] | None = None) -> int:
    return monitor_main(argv, notifier_factory=notifier, extra=add_bot)


if __name__ == "__main__":
    sys.exit(main())
