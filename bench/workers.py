"""Workers benchmark (issue 18): in-process enrichment against 1 and 2 ``lookout worker`` processes, same texts,
one run, and the cost of the hand-off.

    .venv/bin/python bench/workers.py --items 512 --threads 1

A real ``redis-server`` (Debian's package) is started on a free loopback port. The same ``--items`` texts (the
bundled SpamAssassin sample, repeated with a counter when more are asked for) are replayed into a fresh store
three ways, with the bundled model and one zero-shot task: the daemon enriching in-process, then handing its
batches to one, then to two ``lookout worker`` subprocesses (started, and their model loaded, before the clock
starts). Each encoder (the daemon's in-process one, each worker's) gets ``--threads`` torch threads, so a worker
has as many cores as the in-process daemon had and two workers twice as many; the daemon's own commit work runs
beside them. Printed: items/s of each, the ratios against the goals (1 worker >= 0.9 of in-process; 2 workers
>= 1.8 of 1 when there are cores for both), the hand-off's own cost per batch (a round trip through Redis with
no model: publish, read, result and acknowledgement, read back and decode), the cores and the load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.cli import env  # noqa: E402
from tests.redis_server import RedisServer  # noqa: E402
from tests.test_learning import TASK  # noqa: E402


def texts(n: int) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in (ROOT / "monitor" / "demo" / "spamassassin_sample.jsonl").open()]
    return [{"title": rows[i % len(rows)]["title"], "text": f"{rows[i % len(rows)]['text']} ({i})"}
            for i in range(n)]


def config(folder: Path, rows: list[dict[str, str]], redis_url: str, batch: int) -> Path:
    folder.mkdir(parents=True)
    stream = folder / "stream.jsonl"
    stream.write_text("".join(json.dumps(r) + "\n" for r in rows))
    path = folder / "lookout.toml"
    path.write_text(f'[store]\npath = "{folder / "lookout.db"}"\n[pipeline]\nbatch_size = {batch}\n'
                    f'[workers]\nredis_url = "{redis_url}"\nbatch_size = {batch}\nin_flight = 4\n'
                    f'[[replays]]\nname = "mail"\npath = "{stream}"\n{TASK}')
    return path


def start_workers(path: Path, n: int, threads: int) -> list[subprocess.Popen[bytes]]:
    extra = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    return [subprocess.Popen([sys.executable, "-m", "bot.cli", "worker", "-c", str(path), "--name", f"bench-{i}"],
                             cwd=ROOT, env=env(**extra), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for i in range(n)]


async def wait_ready(redis_url: str, n: int) -> None:
    """Until ``n`` workers have loaded their encoder and beat once."""
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(redis_url)
    try:
        while await r.hlen("lookout:batches:workers") < n:
            await asyncio.sleep(0.2)
    finally:
        await r.aclose()


async def enrich(path: Path, encoder: object) -> float:
    """Seconds the daemon takes from start to every item committed (`--until-idle`)."""
    from monitor.config.load import load_settings
    from monitor.daemon.core import Daemon
    from monitor.daemon.notify import ConsoleNotifier
    from monitor.enrich.build import build_pipeline
    from monitor.ingest.registry import build_sources
    from monitor.store.db import Store

    settings = load_settings(path, env={})
    with Store(settings.store.path) as store:
        daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), ConsoleNotifier(lambda _: None),
                        build_sources(settings))
        started = time.perf_counter()
        await daemon.run(until_idle=True)
        seconds = time.perf_counter() - started
        assert store.status()["pending"] == 0 and daemon.processed == store.status()["items"]
    return seconds


async def bench(args: argparse.Namespace) -> None:
    import torch

    from models.embedding import Encoder

    torch.set_num_threads(args.threads)
    rows = texts(args.items)
    encoder = Encoder("bundled", device="cpu")
    load = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "redis").mkdir()
        server = RedisServer(root / "redis").start()
        seconds: dict[str, float] = {}
        try:
            wire = await handoff_ms(server.url, rows, args.batch)
            seconds["in-process"] = await enrich(config(root / "local", rows, "", args.batch), encoder)
            for n in (1, 2):
                path = config(root / f"w{n}", rows, server.url, args.batch)
                procs = start_workers(path, n, args.threads)
                try:
                    await wait_ready(server.url, n)
                    seconds[f"{n} worker{'s' * (n > 1)}"] = await enrich(path, encoder)
                finally:
                    for p in procs:
                        p.terminate()
                        p.wait(30)
                await _forget_workers(server.url)
        finally:
            server.stop()
    report(args, seconds, load, wire)


async def handoff_ms(url: str, rows: list[dict[str, str]], batch: int, rounds: int = 50) -> float:
    """Milliseconds one batch spends on the wire with no model at all: the daemon's XADD of the texts, a worker's
    XREADGROUP, its result (384-dim float32 embeddings, one prediction per item) written and acknowledged in one
    transaction, the daemon's XREADGROUP and decoding, XACK."""
    import numpy as np
    import redis.asyncio as aioredis

    from models.classifier import Prediction
    from monitor.enrich.pipeline import Encoded
    from monitor.workers.streams import BRAIN, BRAIN_GROUP, WORKERS_GROUP, Keys, ensure_groups
    from monitor.workers.wire import Results, batch_fields, read_batch

    keys = Keys("bench:batches", "bench:results")
    r = aioredis.Redis.from_url(url)
    await ensure_groups(r, keys)
    pairs = [(str(i), f"{row['title']}\n{row['text']}") for i, row in enumerate(rows[:batch])]
    prediction = Prediction("spam", "ham", 0.9, False, "zero-shot", {"ham": 0.9, "spam": 0.1})
    started = time.perf_counter()
    for n in range(rounds):
        await r.xadd(keys.batches, batch_fields(str(n), pairs), maxlen=1000)
        [[_, [(entry, fields)]]] = await r.xreadgroup(WORKERS_GROUP, "w", {keys.batches: ">"}, count=1)
        name, ids, _ = read_batch(fields)
        encoded = Encoded(np.ones((len(ids), 384), np.float32), [[prediction] for _ in ids])
        async with r.pipeline(transaction=True) as tx:
            tx.xadd(keys.results, Results(name, "w", ids, encoded, {}).fields(), maxlen=1000)
            tx.xack(keys.batches, WORKERS_GROUP, entry)
            await tx.execute()
        [[_, [(back, result)]]] = await r.xreadgroup(BRAIN_GROUP, BRAIN, {keys.results: ">"}, count=1)
        Results.read(result)
        await r.xack(keys.results, BRAIN_GROUP, back)
    await r.aclose()
    return (time.perf_counter() - started) / rounds * 1000


async def _forget_workers(url: str) -> None:
    import redis.asyncio as aioredis

    r = aioredis.Redis.from_url(url)
    await r.flushdb()
    await r.aclose()


def report(args: argparse.Namespace, seconds: dict[str, float], load: tuple[float, float, float],
           wire: float) -> None:
    rate = {k: args.items / s for k, s in seconds.items()}
    batches = -(-args.items // args.batch)
    one, two, local = rate["1 worker"], rate["2 workers"], rate["in-process"]
    print(f"{args.items} SpamAssassin texts, bundled model, 1 zero-shot task, batches of {args.batch}, "
          f"{args.threads} torch thread(s) per encoder; {os.cpu_count()} cores, load average before "
          f"{load[0]:.2f} / after {os.getloadavg()[0]:.2f}")
    for name, s in seconds.items():
        print(f"  {name:<11}: {s:6.2f} s  {rate[name]:7.1f} items/s")
    print(f"  1 worker / in-process : {one / local:5.2f}   (goal >= 0.9)")
    print(f"  2 workers / 1 worker  : {two / one:5.2f}   (goal >= 1.8 with {2 * args.threads} free cores for "
          f"the workers besides the daemon's)")
    print(f"  hand-off per batch of {args.batch}, no model (wire, Redis, encode/decode): {wire:6.2f} ms")
    print(f"  1 worker - in-process, per batch: "
          f"{(seconds['1 worker'] - seconds['in-process']) / batches * 1000:6.1f} ms over {batches} batches")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=512, help="texts enriched in each run")
    parser.add_argument("--batch", type=int, default=64, help="items per batch (pipeline and workers)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of each encoder")
    asyncio.run(bench(parser.parse_args()))


if __name__ == "__main__":
    main()
