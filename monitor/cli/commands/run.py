"""`lookout run`: the daemon."""

from __future__ import annotations

import argparse
import asyncio
import logging

from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings
from monitor.config.schema import ConfigError
from monitor.store.db import Store

log = logging.getLogger("lookout")


def add(command: CommandAdder) -> None:
    p = command("run", cmd_run, "Run the daemon: poll every source, enrich every item, deliver alerts.")
    p.add_argument("--until-idle", action="store_true",
                   help="exit once finite sources are played, each feed polled once and all items handled")


def cmd_run(args: argparse.Namespace, factory: NotifierFactory) -> int:
    from monitor.daemon.core import Daemon
    from monitor.enrich.build import build_pipeline
    from monitor.ingest.registry import build_sources

    settings = load_cli_settings(args, creates_store=True)
    sources = build_sources(settings)
    if not sources and not settings.http.port:
        raise ConfigError("no sources: add [[feeds]], [[imap]] or [[replays]], or set http.port for webhooks")
    with Store(settings.store.path) as store:
        log.info("loading the embedding model (%s)", settings.model.embedding)
        pipeline = build_pipeline(settings, store)
        daemon = Daemon(settings, store, pipeline, factory(settings, print), sources)
        log.info("watching %d sources; store %s", len(sources), settings.store.path)
        asyncio.run(daemon.run(until_idle=args.until_idle))
    log.info("stopped after enriching %d items", daemon.processed)
    return 0
