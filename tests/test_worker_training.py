"""Training on a worker (``[workers] train``, ``lookout worker --train``) over a real redis-server and the daemon's
real HTTP server on loopback: a run queued by the daemon, trained by a worker process, its version uploaded,
verified, promoted by the gate and then served; a worker killed mid-run and the run taken over by another; a run
no worker takes; a tampered upload refused."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import signal
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
import redis.asyncio as aioredis

from models import registry
from models.embedding import Encoder, pick_device
from models.head import EmbeddingHead
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.daemon.core import Daemon
from monitor.enrich.build import build_pipeline
from monitor.store.db import Store
from monitor.store.learning_rows import Run
from monitor.workers.streams import TRAIN_GROUP
from monitor.workers.worker import Worker
from tests.cli import lookout_here, start
from tests.dovecot import free_port
from tests.redis_server import RedisServer
from tests.servers import wait_for
from tests.test_learning import TASK, sample
from tests.test_learning_daemon import Recorder

TOKEN = "training-token"
TRAINING = "lookout:batches:training"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEVICE = pick_device("auto")  # where the workers here train: cuda on a host with a GPU


@pytest.fixture(scope="module")
def encoders(tiny_model: str) -> list[Encoder]:
    """One for the daemon, one for an in-process worker."""
    return [Encoder(tiny_model) for _ in range(2)]


def configs(tmp_path: Path, tiny_model: str, redis_url: str, port: int, wait: float = 300) -> tuple[Path, Path]:
    """The daemon's settings (the tiny model's training settings of the learning tests, runs queued for the
    workers) and, in a folder of its own, a worker's (Redis and the encoder only)."""
    daemon = tmp_path / "lookout.toml"
    daemon.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                      f'[training]\nbase = "{tiny_model}"\nfreeze_layers = 0\nepochs = 4\npatience = 3\n'
                      f"learning_rate = 3e-3\nmax_length = 64\n[http]\nport = {port}\n"
                      f'[workers]\nredis_url = "{redis_url}"\nbatch_size = 4\nclaim_timeout_seconds = 1.0\n'
                      f"train = true\ntrain_wait_seconds = {wait}\n{TASK}")
    host = tmp_path / "gpu-host"
    host.mkdir()
    worker = host / "worker.toml"
    worker.write_text(f'[store]\npath = "{host / "unused.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                      f'[workers]\nredis_url = "{redis_url}"\nclaim_timeout_seconds = 1.0\n')
    return daemon, worker


def daemon_for(config: Path, encoder: Encoder) -> tuple[Daemon, Store, Recorder, Settings]:
    settings = load_settings(config, env={"LOOKOUT_WEBHOOK_TOKEN": TOKEN})
    store = Store(settings.store.path)
    store.import_examples("spam", [(r["text"], r["label"], "") for r in sample()], "sample")
    notifier = Recorder()
    return Daemon(settings, store, build_pipeline(settings, store, encoder), notifier, []), store, notifier, settings


async def finished(store: Store, run_id: int, *workers: asyncio.subprocess.Process) -> Run:
    """The run once it is done or failed; what the worker processes said when it does not end."""
    try:
        await wait_for(lambda: store.run(run_id).status in ("done", "failed"), 600)
    except AssertionError:
        for w in workers:
            w.kill()
        said = [(await w.communicate())[1].decode()[-3000:] for w in workers]
        raise AssertionError(f"run #{run_id} did not end: {store.run(run_id)}; the workers said: {said}") from None
    run = store.run(run_id)
    assert run is not None
    return run


def queued(daemon: Daemon) -> bool:
    """Whether the daemon has put its run on the training stream."""
    training = daemon._handoff.training if daemon._handoff is not None else None
    return training is not None and training.current is not None and bool(training.current.entry)


async def heartbeat(client: aioredis.Redis, name: str) -> dict[str, Any]:
    raw = await client.hget("lookout:batches:workers", name)
    return json.loads(raw) if raw else {}


async def test_a_run_queued_by_the_daemon_is_trained_by_a_worker_process_then_promoted_and_served(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        client: aioredis.Redis) -> None:
    port = free_port()
    config, worker_config = configs(tmp_path, tiny_model, redis_server.url, port)
    daemon, store, notifier, settings = daemon_for(config, encoders[0])
    run_id, _ = store.request_run("spam", "slack", "U1", channel="C1")
    running = asyncio.create_task(daemon.run())
    worker = await start("worker", "-c", str(worker_config), "--name", "gpu-1", "--train", LOOKOUT_WEBHOOK_TOKEN=TOKEN)
    run = await finished(store, run_id, worker)
    assert run.status == "done", run.message
    assert re.fullmatch(r"spam v1 \((head|fine-tuned)\) promoted: held-out macro_f1 .* \(trained on worker gpu-1, "
                        rf"{DEVICE}\)", run.message)
    [version] = store.versions("spam")
    assert version.status == "serving" and version.run_id == run_id
    folder = Path(version.path)
    assert folder == registry.version_dir(f"{settings.store.path}.models", "spam", 1)
    assert registry.checked_meta(folder)["task"] == "spam", "the weights match the registry's checksum"
    assert not (folder.parent.parent / ".training").exists() or not any((folder.parent.parent / ".training").iterdir())

    await wait_for(lambda: [c.version for c in daemon.pipeline.classifiers] == ["v1"], 120)
    for _ in range(1200):
        if (await heartbeat(client, "gpu-1")).get("models") == {"spam": "v1"}:
            break
        await asyncio.sleep(0.05)
    async with aiohttp.ClientSession() as http:
        body = json.dumps([{"text": r["text"]} for r in sample()[:8]])
        async with http.post(f"http://127.0.0.1:{port}/ingest", data=body, headers=AUTH) as resp:
            assert resp.status == 202
    await wait_for(lambda: store.db.execute("select count(*) from items where state = 'done'").fetchone()[0] == 8, 120)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    worker.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(worker.communicate(), 120)
    assert worker.returncode == 0, err.decode()[-3000:]
    assert {r["model"] for r in store.db.query("select model from labels")} == {"v1"}, \
        "the worker serves the version it trained once the daemon promoted it"
    texts = [text for text, _, _ in notifier.notes]
    assert notifier.notes[0] == ("Training run #1 of spam", "C1", "")
    assert texts[1].startswith("Waiting for a worker that trains")
    assert texts[2] == f"Worker gpu-1 is training it on {DEVICE}."
    assert texts[3].startswith("Training spam v1 on ") and texts[-1] == run.message
    assert len(texts) == len(set(texts)), "each note relayed once"
    store.close()


async def freeze_mid_training(client: aioredis.Redis, pid: int, name: str, store: Store, run_id: int) -> None:
    """SIGSTOP worker ``name`` at a moment it holds the run, the daemon has heard from it and its heartbeat says
    so, with the run still training (it acknowledges the run only once the daemon has its outcome)."""
    for _ in range(30000):
        held = await client.xpending_range(TRAINING, TRAIN_GROUP, "-", "+", 10, consumername=name)
        if (held and store.run(run_id).progress.get("worker") == name
                and (await heartbeat(client, name)).get("training", {}).get("run") == run_id):
            os.kill(pid, signal.SIGSTOP)
            if (await client.xpending_range(TRAINING, TRAIN_GROUP, "-", "+", 10, consumername=name)
                    and store.run(run_id).status == "running"):
                return
            os.kill(pid, signal.SIGCONT)
        await asyncio.sleep(0.01)
    raise AssertionError(f"worker {name} was never caught training")


async def test_a_worker_killed_mid_training_leaves_the_run_to_another_and_status_says_who_trains(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        client: aioredis.Redis, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.INFO, "monitor")
    config, worker_config = configs(tmp_path, tiny_model, redis_server.url, free_port())
    daemon, store, notifier, _ = daemon_for(config, encoders[0])
    run_id, _ = store.request_run("spam", "cli")
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: queued(daemon), 120)
    assert store.run(run_id).progress["phase"] == "waiting for a worker"
    waiting = lookout_here(capsys, monkeypatch, "status", "-c", str(config), LOOKOUT_WEBHOOK_TOKEN=TOKEN)
    assert "training: 1 run(s) waiting for a worker that trains (`lookout worker --train`)" in waiting.stdout

    a = await start("worker", "-c", str(worker_config), "--name", "a", "--train", LOOKOUT_WEBHOOK_TOKEN=TOKEN)
    await freeze_mid_training(client, a.pid, "a", store, run_id)
    frozen = lookout_here(capsys, monkeypatch, "status", "-c", str(config), LOOKOUT_WEBHOOK_TOKEN=TOKEN)
    a.kill()
    await a.communicate()
    assert re.search(rf"^training: run #1 of spam on worker a \({DEVICE}\)", frozen.stdout, re.M), frozen.stdout

    b = Worker(load_settings(worker_config, env={"LOOKOUT_WEBHOOK_TOKEN": TOKEN}), encoders[1], "b", train=True)
    working = asyncio.create_task(b.run())
    await wait_for(lambda: store.run(run_id).status in ("done", "failed"), 600)
    b.stop()
    await asyncio.wait_for(working, 120)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    run = store.run(run_id)
    assert run.status == "done" and run.message.endswith(f"(trained on worker b, {DEVICE})"), run.message
    assert "claimed training run #1, left by a worker that stopped answering" in caplog.text
    assert "Worker b took the run over from a, which stopped answering." in [t for t, _, _ in notifier.notes]
    assert b.trainer is not None and b.trainer.runs == 1
    assert (await client.xpending(TRAINING, TRAIN_GROUP))["pending"] == 0
    assert await client.xlen(TRAINING) == 0, "the finished run left the stream"
    store.close()


async def test_a_run_no_worker_takes_fails_with_a_message_saying_so(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        client: aioredis.Redis) -> None:
    config, _ = configs(tmp_path, tiny_model, redis_server.url, free_port(), wait=2)
    daemon, store, notifier, settings = daemon_for(config, encoders[0])
    run_id, _ = store.request_run("spam", "cli")
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: store.run(run_id).status in ("done", "failed"), 120)
    await wait_for(lambda: not store.unsent_notes(), 120)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    run = store.run(run_id)
    assert (run.status, run.message) == ("failed", (
        "spam: no worker took training run #1 within 2 s: start one with `lookout worker --train` (or set "
        "workers.train = false to train on the daemon's host); the model in service stays"))
    assert store.versions("spam") == [] and not registry.version_dir(f"{settings.store.path}.models", "spam",
                                                                       1).exists()
    assert await client.xlen(TRAINING) == 0, "the run left the stream"
    assert [t for t, _, _ in notifier.notes][-1] == run.message
    store.close()


def head_version(folder: Path, tiny_model: str, version: int) -> Path:
    """A version as a worker would send it back: a head on the tiny model's embeddings, with its metadata."""
    head = EmbeddingHead(("ham", "spam"), np.random.default_rng(0).normal(size=(2, 32)).astype(np.float32),
                         np.zeros(2, np.float32))
    return registry.save_head(folder, head, {"task": "spam", "version": version, "labels": ["ham", "spam"],
                                             "embedding": tiny_model})


METRICS = {"rung": "head", "holdout": {"metric": "macro_f1", "score": 0.9}, "live": {"n": 0},
           "serving": {"version": "zero-shot", "holdout": {"metric": "macro_f1", "score": 0.5}, "live": {"n": 0}}}


async def test_a_tampered_upload_is_refused_and_nothing_is_registered(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        client: aioredis.Redis) -> None:
    port = free_port()
    config, _ = configs(tmp_path, tiny_model, redis_server.url, port)
    daemon, store, _, settings = daemon_for(config, encoders[0])
    run_id, _ = store.request_run("spam", "cli")
    running = asyncio.create_task(daemon.run())
    await wait_for(lambda: queued(daemon), 120)
    [(_, [(_, fields)])] = await client.xreadgroup(TRAIN_GROUP, "rogue", {TRAINING: ">"}, count=1, block=30000)
    base = f"{fields[b'url'].decode()}/training/{fields[b'ticket'].decode()}"
    async with aiohttp.ClientSession() as http:
        async with http.get(base) as resp:
            assert resp.status == 401
        async with http.get(base, headers=AUTH) as resp:
            job = await resp.json()
        assert (job["run"], job["task"], job["version"]) == (run_id, "spam", 1)
        async with http.get(f"{base}/data", headers=AUTH) as resp:
            assert hashlib.sha256(await resp.read()).hexdigest() == job["data_sha256"]

        folder = head_version(tmp_path / "sent" / "v1", tiny_model, 1)
        weights = (folder / registry.HEAD).read_bytes()
        async with http.put(f"{base}/files/{registry.HEAD}", data=weights + b"x",
                            headers={**AUTH, "X-Lookout-SHA256": hashlib.sha256(weights).hexdigest()}) as resp:
            assert resp.status == 400 and "do not match the SHA-256 sent with them" in await resp.text()
        (folder / registry.HEAD).write_bytes(weights[:-1] + bytes([weights[-1] ^ 1]))  # changed after saving
        files = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}
        for name, sha256 in files.items():
            async with http.put(f"{base}/files/{name}", data=(folder / name).read_bytes(),
                                headers={**AUTH, "X-Lookout-SHA256": sha256}) as resp:
                assert resp.status == 200
        done = {"worker": "rogue", "device": "cpu", "status": "done", "files": files, "metrics": METRICS}
        async with http.post(f"{base}/done", json=done, headers=AUTH) as resp:
            status, answer = resp.status, await resp.json()
        async with http.get(base, headers=AUTH) as resp:
            assert resp.status == 410, "the ticket is spent"
    daemon.stop()
    await asyncio.wait_for(running, 60)
    run = store.run(run_id)
    assert status == 422 and answer["message"] == run.message == (
        "spam: the version worker rogue sent back was refused, the model in service stays: spam v1: head.npz does "
        "not match the checksum in meta.json (corrupt or changed)")
    assert run.status == "failed" and store.versions("spam") == [] and store.serving() == {}
    assert not registry.version_dir(f"{settings.store.path}.models", "spam", 1).exists()
    store.close()


async def test_a_daemon_restarted_mid_run_queues_it_again_and_the_worker_lets_the_old_one_go(
        tmp_path: Path, tiny_model: str, encoders: list[Encoder], redis_server: RedisServer,
        client: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "monitor")
    config, worker_config = configs(tmp_path, tiny_model, redis_server.url, free_port())
    daemon, store, _, settings = daemon_for(config, encoders[0])
    run_id, _ = store.request_run("spam", "cli")
    running = asyncio.create_task(daemon.run())
    worker = Worker(load_settings(worker_config, env={"LOOKOUT_WEBHOOK_TOKEN": TOKEN}), encoders[1], "b", train=True)
    working = asyncio.create_task(worker.run())
    await wait_for(lambda: store.run(run_id).progress.get("worker") == "b", 120)
    daemon.stop()
    await asyncio.wait_for(running, 60)
    assert store.run(run_id).status == "running"

    again = Daemon(settings, store, build_pipeline(settings, store, encoders[0]), Recorder(), [])
    running = asyncio.create_task(again.run())
    await wait_for(lambda: store.run(run_id).status in ("done", "failed"), 600)
    again.stop()
    await asyncio.wait_for(running, 60)
    worker.stop()
    await asyncio.wait_for(working, 120)
    run = store.run(run_id)
    assert run.status == "done" and run.message.endswith(f"(trained on worker b, {DEVICE})"), run.message
    assert [v.version for v in store.versions("spam")] == [1], "the run kept its version number"
    assert worker.trainer is not None and worker.trainer.runs == 1, "the first attempt was let go, not sent back"
    assert (await client.xpending(TRAINING, TRAIN_GROUP))["pending"] == 0
    assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR], \
        "a run let go is not a failed training"
    store.close()
