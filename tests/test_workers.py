"""The hand-off to ``lookout worker`` over a real redis-server on loopback: a worker's results committed as a local
batch, a worker SIGKILLed mid-batch and its batch claimed by another, two workers on one stream, a version promoted
while workers run (fetched over HTTP, swapped between batches), a version a worker cannot load, Redis going away
and coming back, and a daemon restart. "Committed once" is checked on the topic model's update counter: a batch
committed twice would count its items twice."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path

import aiohttp
import numpy as np
import pytest
import redis.asyncio as aioredis

from models import registry
from models.embedding import Encoder
from models.head import EmbeddingHead
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.store.db import Store
from monitor.workers.streams import WORKERS_GROUP, Keys, ensure_groups
from monitor.workers.worker import Worker
from tests.cli import lookout_here, start
from tests.dovecot import free_port
from tests.redis_server import RedisServer
from tests.servers import sample_rows, wait_for
from tests.test_learning import TASK as SPAM_TASK

TOKEN = "worker-token"
TASK = SPAM_TASK + """
[[alerts]]
name = "everything"
kind = "keyword"
pattern = "."
cooldown_minutes = 0
"""


@pytest.fixture(scope="module")
def encoders(tiny_model: str) -> list[Encoder]:
    """One encoder per in-process worker (each on its own compute thread) and one for the daemon."""
    return [Encoder(tiny_model) for _ in range(3)]


def write_config(tmp_path: Path, tiny_model: str, redis_url: str, n: int, rate: float = 0.0, extra: str = "",
                 name: str = "lookout.toml", sources: bool = True) -> Path:
    stream = tmp_path / "stream.jsonl"
    rows = sample_rows(n)
    assert len(rows) == n
    stream.write_text("".join(json.dumps({"text": r["text"], "title": r["title"]}) + "\n" for r in rows))
    replay = f'[[replays]]\nname = "mail"\npath = "{stream}"\nrate = {rate}\n' if sources else ""
    path = tmp_path / name
    path.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                    f'[workers]\nredis_url = "{redis_url}"\nbatch_size = 4\nin_flight = 4\nmaxlen = 100\n'
                    f"claim_timeout_seconds = 1.0\n{extra}\n{replay}{TASK}")
    return path


def daemon_for(settings: Settings, encoder: Encoder, out: list[str]) -> tuple[Daemon, Store]:
    store = Store(settings.store.path)
    return Daemon(settings, store, build_pipeline(settings, store, encoder), ConsoleNotifier(out.append, "never"),
                  build_sources(settings)), store


def done(store: Store) -> int:
    return store.db.execute("select count(*) from items where state = 'done'").fetchone()[0]


def assert_committed_once(store: Store, n: int) -> None:
    """Every item done, labelled and alerted once, and counted once by the topic model."""
    assert done(store) == n and store.status()["pending"] == 0
    assert store.db.execute("select count(*) from labels").fetchone()[0] == n
    assert store.db.execute("select count(*) from alerts").fetchone()[0] == n
    assert store.load_topics()[1]["updates"] == n, "a batch was committed twice (or an item skipped)"


def labels_in_commit_order(store: Store) -> list[str]:
    return [r["model"] for r in store.db.query(
        "select labels.model from labels join items on items.id = labels.item_id "
        "order by items.processed_at, items.rowid")]


async def test_a_workers_results_are_committed_as_a_local_batch_and_status_and_healthz_show_it(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    config = write_config(tmp_path, tiny_model, redis_server.url, 24, extra=f"[http]\nport = {port}\n")
    settings = load_settings(config, env={"LOOKOUT_WEBHOOK_TOKEN": TOKEN})
    worker = Worker(settings, encoders[0], "w1")
    working = asyncio.create_task(worker.run())
    daemon, store = daemon_for(settings, encoders[2], [])
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: done(store) == 24, 120)
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/healthz") as resp:
        health = await resp.json()
    daemon.stop()
    await asyncio.wait_for(running, 60)
    assert health["ok"] and health["workers"]["redis"] == "ok" and health["workers"]["workers"] == 1
    assert {"batches_waiting", "batches_held", "in_flight"} <= set(health["workers"])
    assert_committed_once(store, 24)
    assert worker.batches == 6 and worker.items == 24

    (tmp_path / "local").mkdir()
    local = load_settings(write_config(tmp_path / "local", tiny_model, "", 24), env={})
    here, here_store = daemon_for(local, encoders[2], [])
    await asyncio.wait_for(here.run(until_idle=True), 60)
    ours = {r["id"]: r for r in store.db.query("select items.id, embedding, label, model from items join labels on "
                                                "labels.item_id = items.id")}
    theirs = {r["id"]: r for r in here_store.db.query("select items.id, embedding, label, model from items join "
                                                       "labels on labels.item_id = items.id")}
    assert ours.keys() == theirs.keys()
    for item_id, row in ours.items():
        assert np.allclose(np.frombuffer(row["embedding"], np.float32),
                           np.frombuffer(theirs[item_id]["embedding"], np.float32), atol=1e-5)
        assert (row["label"], row["model"]) == (theirs[item_id]["label"], theirs[item_id]["model"])
    here_store.close()

    result = lookout_here(capsys, monkeypatch, "status", "-c", str(config), LOOKOUT_WEBHOOK_TOKEN=TOKEN)
    worker.stop()
    await asyncio.wait_for(working, 30)
    store.close()
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("w1 "))
    assert row.split()[:5] == ["w1", "alive", "cpu", "6", "24"] and "spam zero-shot" in row
    assert "workers: 0 batches waiting, 0 held by a worker" in result.stdout


async def freeze_mid_batch(client: aioredis.Redis, pid: int, name: str) -> list[str]:
    """SIGSTOP worker ``name`` at a moment it holds a batch it has not answered (its result and acknowledgement
    are one transaction, so a batch still pending on a stopped worker is one it is in the middle of)."""
    await ensure_groups(client, Keys("lookout:batches", "lookout:results"))
    for _ in range(6000):
        if await client.xpending_range("lookout:batches", WORKERS_GROUP, "-", "+", 10, consumername=name):
            os.kill(pid, signal.SIGSTOP)
            held = await client.xpending_range("lookout:batches", WORKERS_GROUP, "-", "+", 10, consumername=name)
            if held:
                return [r["message_id"].decode() for r in held]
            os.kill(pid, signal.SIGCONT)
        await asyncio.sleep(0.01)
    raise AssertionError(f"worker {name} never held a batch")


async def test_a_worker_killed_mid_batch_leaves_it_to_another_and_nothing_is_lost_or_committed_twice(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        client: aioredis.Redis) -> None:
    n = 120
    config = write_config(tmp_path, tiny_model, redis_server.url, n)
    daemon, store = daemon_for(load_settings(config, env={}), encoders[2], [])
    running = asyncio.create_task(daemon.run())
    a = await start("worker", "-c", str(config), "--name", "a")
    held = await freeze_mid_batch(client, a.pid, "a")
    a.kill()
    await a.communicate()
    b = await start("worker", "-c", str(config), "--name", "b")
    await wait_for(lambda: done(store) == n, 300)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    b.send_signal(signal.SIGTERM)
    _, err = await b.communicate()
    assert b.returncode == 0, err.decode()
    assert f"claimed batch {held[0]}, left by a worker that stopped answering" in err.decode()
    assert_committed_once(store, n)
    assert (await client.xpending("lookout:batches", WORKERS_GROUP))["pending"] == 0
    store.close()


async def test_two_workers_share_one_stream(tmp_path: Path, tiny_model: str, encoders: list[Encoder],
                                            redis_server: RedisServer) -> None:
    n = 80
    settings = load_settings(write_config(tmp_path, tiny_model, redis_server.url, n), env={})
    daemon, store = daemon_for(settings, encoders[2], [])
    running = asyncio.create_task(daemon.run(until_idle=True))
    await wait_for(lambda: daemon._handoff.in_flight, 120)
    workers = [Worker(settings, encoders[i], f"w{i + 1}") for i in range(2)]
    working = [asyncio.create_task(w.run()) for w in workers]
    await asyncio.wait_for(running, 120)
    for w in workers:
        w.stop()
    await asyncio.gather(*working)
    assert all(w.batches >= 1 for w in workers), [w.batches for w in workers]
    assert sum(w.items for w in workers) == n, "no batch was done twice"
    assert_committed_once(store, n)
    store.close()


def make_head(folder: Path, tiny_model: str) -> Path:
    """A registered version of the spam task: a head on the tiny model's embeddings."""
    rng = np.random.default_rng(0)
    head = EmbeddingHead(("ham", "spam"), rng.normal(size=(2, 32)).astype(np.float32), np.zeros(2, np.float32))
    return registry.save_head(folder, head, {"labels": ["ham", "spam"], "embedding": tiny_model})


async def test_a_version_promoted_while_a_worker_runs_is_fetched_over_http_and_swapped_between_batches(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer) -> None:
    n, port = 60, free_port()
    config = write_config(tmp_path, tiny_model, redis_server.url, n, rate=10.0, extra=f"[http]\nport = {port}\n")
    settings = load_settings(config, env={"LOOKOUT_WEBHOOK_TOKEN": TOKEN})
    worker = Worker(settings, encoders[0], "w1")
    working = asyncio.create_task(worker.run())
    daemon, store = daemon_for(settings, encoders[2], [])
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: done(store) >= 8, 120)
    folder = make_head(tmp_path / "registry" / "spam" / "v1", tiny_model)
    store.add_version("spam", 1, str(folder), "candidate", {}, "", None, False)
    store.promote("spam", 1, "by hand")
    await wait_for(lambda: done(store) == n, 120)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    assert worker.models.versions() == {"spam": "v1"} and worker.models.error == ""
    fetched = worker.models.cache / "spam" / "v1"
    assert {p.name: p.read_bytes() for p in fetched.iterdir()} == {p.name: p.read_bytes() for p in folder.iterdir()}
    worker.stop()
    await asyncio.wait_for(working, 30)
    models = labels_in_commit_order(store)
    first = models.index("v1")
    assert first >= 8 and set(models[:first]) == {"zero-shot"} and set(models[first:]) == {"v1"}, \
        "each batch is labelled by one version, the new one from the swap on"
    assert_committed_once(store, n)
    store.close()


async def test_a_worker_that_cannot_fetch_a_version_keeps_the_old_one_and_says_so(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    n, port = 40, free_port()
    config = write_config(tmp_path, tiny_model, redis_server.url, n, rate=10.0, extra=f"[http]\nport = {port}\n")
    settings = load_settings(config, env={"LOOKOUT_WEBHOOK_TOKEN": TOKEN})
    elsewhere = tmp_path / "worker-host"
    elsewhere.mkdir()
    worker_config = write_config(elsewhere, tiny_model, redis_server.url, n, sources=False)  # no token there
    worker = Worker(load_settings(worker_config, env={}), encoders[0], "w1")
    working = asyncio.create_task(worker.run())
    caplog.set_level(logging.INFO, "monitor")
    daemon, store = daemon_for(settings, encoders[2], [])
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: done(store) >= 4, 120)
    store.add_version("spam", 1, str(make_head(tmp_path / "registry" / "spam" / "v1", tiny_model)), "candidate",
                      {}, "", None, False)
    store.promote("spam", 1, "by hand")
    await wait_for(lambda: "worker w1: task spam: v1 cannot be loaded" in caplog.text, 120)
    await wait_for(lambda: done(store) == n, 120)
    result = lookout_here(capsys, monkeypatch, "status", "-c", str(config), LOOKOUT_WEBHOOK_TOKEN=TOKEN)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    worker.stop()
    await asyncio.wait_for(working, 30)
    assert "task spam: v1 cannot be loaded, zero-shot stays in service" in worker.models.error
    assert "HTTP 401" in worker.models.error
    assert worker.models.versions() == {"spam": "zero-shot"}
    assert set(labels_in_commit_order(store)) == {"zero-shot"}, "the worker went on with the version it had"
    assert daemon.pipeline.classifiers[0].version == "v1", "the daemon itself serves v1"
    row = next(line for line in result.stdout.splitlines() if line.startswith("w1 "))
    assert "spam zero-shot" in row and "v1 cannot be loaded" in row
    assert_committed_once(store, n)
    store.close()


async def test_redis_going_away_and_coming_back_empty_loses_nothing(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        caplog: pytest.LogCaptureFixture) -> None:
    n = 60
    settings = load_settings(write_config(tmp_path, tiny_model, redis_server.url, n, rate=15.0), env={})
    caplog.set_level(logging.INFO, "monitor")
    worker = Worker(settings, encoders[0], "w1")
    working = asyncio.create_task(worker.run())
    daemon, store = daemon_for(settings, encoders[2], [])
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: done(store) >= 8, 120)
    redis_server.stop()
    await wait_for(lambda: daemon._handoff.health["redis"] == "unreachable", 120)
    stored = store.status()["items"]
    await wait_for(lambda: store.status()["items"] >= stored + 8, 120)  # the sources go on while Redis is away
    assert done(store) < n
    redis_server.start()
    await wait_for(lambda: done(store) == n, 120)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    worker.stop()
    await asyncio.wait_for(working, 30)
    assert_committed_once(store, n)
    messages = [r.getMessage() for r in caplog.records]
    assert sum(r.name == "monitor.workers.dispatch" and "is unreachable" in r.getMessage() for r in caplog.records) == 1
    assert sum("is back; handing out the items not yet enriched" in m for m in messages) == 1
    store.close()


async def test_a_restarted_daemon_hands_out_again_what_was_not_enriched_and_commits_it_once(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        client: aioredis.Redis) -> None:
    n = 30
    settings = load_settings(write_config(tmp_path, tiny_model, redis_server.url, n), env={})
    daemon, store = daemon_for(settings, encoders[2], [])
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: store.status()["items"] == n and len(daemon._handoff.in_flight) == 4, 120)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    store.close()
    assert await client.xlen("lookout:batches") == 4 and done(Store(settings.store.path)) == 0

    daemon, store = daemon_for(settings, encoders[2], [])
    worker = Worker(settings, encoders[0], "w1")
    working = asyncio.create_task(worker.run())
    await asyncio.wait_for(daemon.run(until_idle=True), 120)
    worker.stop()
    await asyncio.wait_for(working, 30)
    assert worker.items > n, "the batches left from the first run were done as well"
    assert_committed_once(store, n)
    store.close()
