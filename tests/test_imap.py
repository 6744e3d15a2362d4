"""The IMAP source against a real dovecot on 127.0.0.1: IDLE push, restarts, UIDVALIDITY, dropped connections."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import mailbox
import shutil
import signal
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import aiohttp
import aioimaplib
import pytest

from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.ingest.sources.imap import ImapSource
from monitor.store.db import Store
from tests.cli import start
from tests.dovecot import PASSWORD, USER, Dovecot, free_port
from tests.test_mail import SHARED_MBOXES, encoded_word_subject, many_lines, message, nested_multipart


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    root = Path(tempfile.mkdtemp(prefix="lookout-dovecot-"))
    server = Dovecot(root).start()
    yield server
    server.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def encoder(tiny_model: str) -> Encoder:
    return Encoder(tiny_model)


async def deliver(server: Dovecot, *raw: bytes, folder: str = "INBOX") -> None:
    client = aioimaplib.IMAP4("127.0.0.1", server.port)
    await client.wait_hello_from_server()
    await client.login(USER, PASSWORD)
    if folder != "INBOX":
        await client.create(folder)
    for data in raw:
        assert (await client.append(data, mailbox=folder)).result == "OK"
    await client.logout()


def mail(n: int) -> bytes:
    return message(subject=f"Deploy {n} finished", body=f"Deploy number {n} went fine.",
                   message_id=f"<deploy-{n}@ci>").as_bytes()


def config_for(tmp_path: Path, tiny_model: str, server: Dovecot, folders: str = '["INBOX"]', extra: str = "") -> Path:
    path = tmp_path / "lookout.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n{extra}'
                    f'[[imap]]\nname = "ops"\nhost = "127.0.0.1"\nport = {server.port}\nuser = "{USER}"\n'
                    f'security = "none"\ntimeout_seconds = 5\nmax_backoff_seconds = 0.5\nfolders = {folders}\n'
                    '[[alerts]]\nname = "all"\nkind = "keyword"\npattern = "."\ncooldown_minutes = 0\n')
    return path


def settings_for(tmp_path: Path, tiny_model: str, server: Dovecot, password: str = PASSWORD,
                 folders: str = '["INBOX"]') -> Settings:
    return load_settings(config_for(tmp_path, tiny_model, server, folders), env={"LOOKOUT_IMAP_PASSWORD": password})


class Running:
    """A daemon running in the background of the test's event loop."""

    def __init__(self, settings: Settings, encoder: Encoder) -> None:
        self.out: list[str] = []
        self.store = Store(settings.store.path)
        self.daemon = Daemon(settings, self.store, build_pipeline(settings, self.store, encoder),
                             ConsoleNotifier(self.out.append, "never"), build_sources(settings))
        self.task = asyncio.create_task(self.daemon.run())

    async def until(self, check: Callable[[], bool], timeout: float = 20) -> float:
        started = time.monotonic()
        while not check():
            if time.monotonic() - started > timeout:
                raise AssertionError(f"not reached within {timeout} s; output: {self.out}")
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    async def stop(self) -> None:
        self.daemon.stop()
        await asyncio.wait_for(self.task, 30)
        self.store.close()


async def test_mail_arrives_by_idle_push_and_a_restart_sees_each_message_once(
        tmp_path: Path, tiny_model: str, encoder: Encoder, dovecot: Dovecot) -> None:
    await deliver(dovecot, mail(1), mail(2))
    settings = settings_for(tmp_path, tiny_model, dovecot)
    run = Running(settings, encoder)
    await run.until(lambda: run.daemon.processed == 2)
    await asyncio.sleep(0.5)
    await deliver(dovecot, mail(3))
    delay = await run.until(lambda: run.daemon.processed == 3)
    assert delay < 5, "IDLE pushed the new message within seconds"
    assert "Deploy 3 finished" in run.out[-1]
    await run.stop()

    await deliver(dovecot, mail(4), mail(5))
    run = Running(settings, encoder)
    await run.until(lambda: run.daemon.processed == 2)
    await asyncio.sleep(0.5)
    assert run.daemon.processed == 2 and all("Deploy 4" in o or "Deploy 5" in o for o in run.out)
    position = run.store.source_position("ops")
    assert position["last_uid"] == 5
    await run.stop()
    store = Store(settings.store.path)
    assert store.status()["items"] == 5
    store.close()


async def test_a_uidvalidity_change_rereads_the_folder_without_storing_twice(
        tmp_path: Path, tiny_model: str, encoder: Encoder, dovecot: Dovecot,
        caplog: pytest.LogCaptureFixture) -> None:
    await deliver(dovecot, mail(1), mail(2))
    settings = settings_for(tmp_path, tiny_model, dovecot)
    run = Running(settings, encoder)
    await run.until(lambda: run.daemon.processed == 2)
    await run.stop()
    dovecot.stop()
    for state in dovecot.home.rglob("dovecot*"):
        if state.is_file():
            state.unlink()
    await asyncio.sleep(1.1)
    dovecot.start()
    await deliver(dovecot, mail(3))
    caplog.set_level(logging.WARNING, "monitor")
    run = Running(settings, encoder)
    await run.until(lambda: run.daemon.processed == 1)
    await asyncio.sleep(0.5)
    assert run.daemon.processed == 1
    assert any("UIDVALIDITY of INBOX changed" in r.getMessage() for r in caplog.records)
    await run.stop()


async def test_a_dropped_connection_is_retried_and_mail_still_arrives(
        tmp_path: Path, tiny_model: str, encoder: Encoder, dovecot: Dovecot,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "monitor")
    settings = settings_for(tmp_path, tiny_model, dovecot)
    await deliver(dovecot, mail(1))
    run = Running(settings, encoder)
    await run.until(lambda: run.daemon.processed == 1)
    dovecot.stop()
    await run.until(lambda: any("source ops failing" in r.getMessage() for r in caplog.records))
    dovecot.start()
    await deliver(dovecot, mail(2))
    await run.until(lambda: run.daemon.processed == 2, timeout=30)
    await run.until(lambda: any("source ops recovered" in r.getMessage() for r in caplog.records))
    await run.stop()


@pytest.mark.shared
async def test_real_corpus_messages_go_through_imap(tmp_path: Path, tiny_model: str, encoder: Encoder,
                                                     dovecot: Dovecot) -> None:
    raw = []
    for group in ("hard_ham", "spam_2"):
        plain = tmp_path / f"{group}.mbox"
        plain.write_bytes(gzip.decompress((SHARED_MBOXES / f"{group}.mbox.gz").read_bytes()))
        box = mailbox.mbox(plain, create=False)
        raw += [box.get_bytes(key) for key in list(box.keys())[:10]]
    await deliver(dovecot, *raw)
    settings = settings_for(tmp_path, tiny_model, dovecot)
    run = Running(settings, encoder)
    await run.until(lambda: run.daemon.processed == 20, timeout=30)
    rows = list(run.store.db.query("select title, text from items"))
    assert len(rows) == 20 and sum(bool(r["text"].strip()) for r in rows) >= 18
    await run.stop()


async def eventually(check: Callable[[], bool], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not reached within {timeout} s"
        await asyncio.sleep(0.1)


async def test_hostile_messages_neither_stop_the_folder_nor_the_daemon(tmp_path: Path, tiny_model: str,
                                                                     dovecot: Dovecot) -> None:
    """Issue 13 through a real dovecot and ``lookout run``: the messages around hostile ones are stored, the
    position moves past them, /healthz answers while they are parsed and the daemon's memory stays bounded."""
    port = free_port()
    cfg = config_for(tmp_path, tiny_model, dovecot, extra=f"[http]\nport = {port}\n")
    db = tmp_path / "lookout.db"

    def done() -> int:
        try:
            with contextlib.closing(sqlite3.connect(db)) as store:
                return store.execute("select count(*) from items where state = 'done'").fetchone()[0]
        except sqlite3.OperationalError:
            return 0

    await deliver(dovecot, mail(1))
    daemon = await start("run", "--config", str(cfg), LOOKOUT_IMAP_PASSWORD=PASSWORD, LOOKOUT_WEBHOOK_SECRET="s")
    try:
        await eventually(lambda: done() == 1)
        slowest, probes, deadline = 0.0, 0, time.monotonic() + 120
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
            huge = b"Subject: Huge\nMessage-ID: <huge@hostile>\n\n" + b"x" * 75 * 2**10 * 360 + b"\n"
            delivery = asyncio.create_task(deliver(dovecot, encoded_word_subject(), nested_multipart(),
                                                   many_lines(1), many_lines(2), huge, mail(2)))
            while done() < 7:
                assert time.monotonic() < deadline, "the messages after the hostile ones were not all handled"
                probes += 1
                started = time.monotonic()
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
                slowest = max(slowest, time.monotonic() - started)
                await asyncio.sleep(0.05)
            await delivery
        status = Path(f"/proc/{daemon.pid}/status").read_text().splitlines()
        peak = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
        daemon.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(daemon.communicate(), 60)
    finally:
        if daemon.returncode is None:
            daemon.kill()
            await daemon.wait()
    assert daemon.returncode == 0, err.decode()
    store = sqlite3.connect(db)
    rows = store.execute("select title, json_extract(raw, '$.note') from items order by rowid").fetchall()
    assert [title[:12] for title, _ in rows] == ["Deploy 1 fin", "café 0café 1", "Nested", "Lines 1", "Lines 2",
                                                 "Huge", "Deploy 2 fin"]
    assert [bool(note) for _, note in rows] == [False, True, True, True, True, True, False]
    assert rows[5][1] == "the message is larger than 26214400 bytes: only its start was read"
    assert "UID 3 read in part: more than 50 multipart or message parts" in err.decode()
    position = store.execute("select position from sources where name = 'ops'").fetchone()[0]
    assert '"last_uid": 7' in position
    assert peak < 2**30, f"peak RSS {peak / 2**20:.0f} MiB"
    print(f"{probes} /healthz probes, the slowest answered in {slowest:.3f} s; peak RSS {peak / 2**20:.0f} MiB")


async def test_without_idle_the_folder_is_polled(dovecot: Dovecot) -> None:
    source = ImapSource("ops", "127.0.0.1", dovecot.port, USER, PASSWORD, security="none", idle=False,
                        poll_seconds=0.2, timeout=5)
    stream = source.stream({})
    assert (await asyncio.wait_for(stream.__anext__(), 10)).items == []
    await deliver(dovecot, mail(7))
    batch = await asyncio.wait_for(stream.__anext__(), 10)
    assert [i.title for i in batch.items] == ["Deploy 7 finished"] and batch.position["last_uid"] == 1
    await stream.aclose()


async def test_several_folders_are_followed_as_separate_sources(tmp_path: Path, tiny_model: str,
                                                                 encoder: Encoder, dovecot: Dovecot) -> None:
    await deliver(dovecot, mail(1))
    await deliver(dovecot, mail(2), mail(3), folder="Alerts")
    settings = settings_for(tmp_path, tiny_model, dovecot, folders='["INBOX", "Alerts"]')
    run = Running(settings, encoder)
    await run.until(lambda: run.daemon.processed == 3)
    totals = {s["name"]: s["items_total"] for s in run.store.status()["sources"]}
    assert totals == {"ops/INBOX": 1, "ops/Alerts": 2}
    await run.stop()


async def test_a_refused_login_is_reported_with_its_reason(tmp_path: Path, tiny_model: str, encoder: Encoder,
                                                           dovecot: Dovecot) -> None:
    settings = settings_for(tmp_path, tiny_model, dovecot, password="wrong")
    run = Running(settings, encoder)

    def failed() -> bool:
        sources = run.store.status()["sources"]
        return bool(sources) and sources[0]["failures"] >= 1

    await run.until(failed)
    assert run.store.status()["sources"][0]["last_error"] == f"login as {USER} refused"
    await run.stop()


@pytest.mark.parametrize("security", ["tls", "starttls"])
async def test_tls_and_starttls_connections_verify_the_server(security: str) -> None:
    root = Path(tempfile.mkdtemp(prefix="lookout-dovecot-"))
    server = Dovecot(root, tls=True).start()
    try:
        await deliver(server, mail(1))
        port = server.tls_port if security == "tls" else server.port
        trusted = ImapSource("ops", "127.0.0.1", port, USER, PASSWORD, security=security, timeout=5,
                             ca_file=str(server.cert))
        stream = trusted.stream({})
        batch = await asyncio.wait_for(stream.__anext__(), 15)
        assert [i.title for i in batch.items] == ["Deploy 1 finished"]
        await stream.aclose()
        untrusted = ImapSource("ops", "127.0.0.1", port, USER, PASSWORD, security=security, timeout=5)
        with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED"):
            await asyncio.wait_for(untrusted.stream({}).__anext__(), 15)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
