"""`lookout worker`: encode and classify the batches a daemon hands out over Redis (see docs/workers.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import TYPE_CHECKING

from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings
from monitor.config.schema import ConfigError

if TYPE_CHECKING:
    from monitor.workers.worker import Worker

log = logging.getLogger("lookout")


def add(command: CommandAdder) -> None:
    p = command("worker", cmd_worker, "Encode and classify the batches a daemon hands out over Redis "
                                      "([workers] redis_url), with the model versions it announces.")
    p.add_argument("--name", default="", help="name of this worker in `lookout status` (default: HOST-PID)")
    p.add_argument("--train", action="store_true",
                   help="also carry out the training runs a daemon with `[workers] train` queues, on this host's "
                        "devices (cuda when visible)")


def cmd_worker(args: argparse.Namespace, _: NotifierFactory) -> int:
    from models.embedding import Encoder
    from monitor.workers.streams import check
    from monitor.workers.worker import Worker

    settings = load_cli_settings(args, creates_store=True)  # a worker's host has no store
    if not settings.workers.redis_url:
        raise ConfigError("workers.redis_url: missing; `lookout worker` reads its batches from Redis")
    check(settings.workers)
    m = settings.model
    log.info("loading the embedding model (%s)", m.embedding)
    worker = Worker(settings, Encoder(m.embedding, device=m.device, batch_size=m.batch_size,
                                      max_chars=m.max_chars), args.name, train=args.train)
    asyncio.run(_run(worker))
    log.info("stopped after %d batches (%d items)", worker.batches, worker.items)
    return 0


async def _run(worker: Worker) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, worker.stop)
    log.info("worker %s reading batches%s from %s", worker.name, " and training runs" if worker.trainer else "",
             worker.settings.workers.redis_url)
    await worker.run()
