"""Webhook intake: POST /ingest on the daemon's HTTP server, signed with HMAC or a bearer token."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.config.schema import ConfigError
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.ingest.webhook import IngestError, parse_payload, sign
from monitor.store.db import Store
from tests.dovecot import free_port
from tests.servers import sample_rows, wait_for

SECRET, TOKEN = "hmac-key", "bearer-token"


@pytest.mark.parametrize(("body", "reason"), [
    (b"{not json", "not valid JSON"),
    (b"[]", "empty list"),
    (b'{"title": "no text"}', "item 0: missing 'text'"),
    (b'[{"text": "ok"}, {"text": 5}]', "item 1: missing 'text'"),
    (b'{"text": "x", "colour": "red"}', "item 0: unknown field 'colour'"),
    (b'{"text": "x", "url": 7}', "item 0: 'url' must be a string"),
    (b'{"text": "x", "published": "yesterday"}', "item 0: 'published' is not an ISO 8601 time"),
    (b'"just a string"', "item 0: expected a JSON object"),
])
def test_bad_payloads_are_rejected_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(IngestError, match=reason):
        parse_payload(body)


def test_items_get_stable_ids_from_their_own_id_or_content() -> None:
    [a] = parse_payload(b'{"id": "evt-1", "text": "disk full", "source": "alertmanager"}')
    [b] = parse_payload(b'{"id": "evt-1", "text": "other text", "source": "alertmanager"}')
    [c, d] = parse_payload(b'[{"text": "same"}, {"text": "same"}]')
    assert a.id == b.id and a.source == "alertmanager" and c.id == d.id and c.source == "webhook"


def test_the_http_server_needs_a_secret_or_token(tmp_path: Path) -> None:
    cfg = tmp_path / "l.toml"
    cfg.write_text("[http]\nport = 8080\n")
    with pytest.raises(ConfigError, match="LOOKOUT_WEBHOOK_SECRET"):
        load_settings(cfg, env={})


async def test_signed_and_bearer_posts_are_stored_once_and_bad_ones_store_nothing(tmp_path: Path,
                                                                                   tiny_model: str) -> None:
    port = free_port()
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f"[http]\nport = {port}\nmax_body_bytes = 2048\n"
                   '[[alerts]]\nname = "all"\nkind = "keyword"\npattern = "."\ncooldown_minutes = 0\n')
    settings = load_settings(cfg, env={"LOOKOUT_WEBHOOK_SECRET": SECRET, "LOOKOUT_WEBHOOK_TOKEN": TOKEN})
    store = Store(settings.store.path)
    out: list[str] = []
    daemon = Daemon(settings, store, build_pipeline(settings, store, Encoder(tiny_model)),
                    ConsoleNotifier(out.append, "never"), build_sources(settings))
    task = asyncio.create_task(daemon.run())
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        for _ in range(100):
            try:
                async with http.get(f"{url}/healthz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)

        async def post(body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
            async with http.post(f"{url}/ingest", data=body, headers=headers) as resp:
                return resp.status, await resp.json()

        one = json.dumps({"id": "evt-1", "title": "Disk full", "text": "db-3 /var is 100% full",
                          "source": "alertmanager"}).encode()
        assert await post(one, {"X-Lookout-Signature": sign(SECRET, one)}) == \
            (202, {"ok": True, "received": 1, "stored": 1})
        assert (await post(one, {"X-Lookout-Signature": sign(SECRET, one)}))[1]["stored"] == 0
        two = json.dumps([{"text": "deploy 41 done"}, {"text": "deploy 42 done"}]).encode()
        assert (await post(two, {"Authorization": f"Bearer {TOKEN}"}))[1]["stored"] == 2
        forged = (await post(two.replace(b"41", b"66"), {"X-Lookout-Signature": sign(SECRET, two)}))
        assert forged == (401, {"ok": False, "error": "bad or missing signature or token"})
        assert (await post(two, {"Authorization": "Bearer guess"}))[0] == 401
        half_bad = json.dumps([{"text": "fine"}, {"title": "no text"}]).encode()
        status, answer = await post(half_bad, {"Authorization": f"Bearer {TOKEN}"})
        assert status == 400 and answer["error"] == "item 1: missing 'text' (a non-empty string)"
        huge = json.dumps({"text": "x" * 5000}).encode()
        assert (await post(huge, {"Authorization": f"Bearer {TOKEN}"}))[0] == 413
        await wait_for(lambda: daemon.processed == 3)
    daemon.stop()
    await asyncio.wait_for(task, 30)
    assert daemon.processed == 3 and len(out) == 3
    sources = {s["name"]: s["items_total"] for s in store.status()["sources"]}
    assert sources == {"alertmanager": 1, "webhook": 2}
    store.close()


LIMIT = 6_000_000


@dataclass
class Intake:
    """A running daemon's webhook intake and its store."""

    http: aiohttp.ClientSession
    url: str
    store: Store

    async def post(self, body: bytes | AsyncIterator[bytes], signature: bytes | None = None) -> tuple[int, dict]:
        """POST ``body`` signed with the HMAC of ``signature`` (default: of ``body`` itself)."""
        signed = signature if signature is not None else body
        assert isinstance(signed, bytes)
        async with self.http.post(f"{self.url}/ingest", data=body,
                                  headers={"X-Lookout-Signature": sign(SECRET, signed)}) as resp:
            return resp.status, await resp.json()

    async def items(self) -> int:
        return (await self.store.call(self.store.status))["items"]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def intake(tmp_path_factory: pytest.TempPathFactory, tiny_model: str) -> AsyncIterator[Intake]:
    """One daemon for the module, taking bodies up to ``LIMIT`` bytes on POST /ingest."""
    tmp_path, port = tmp_path_factory.mktemp("intake"), free_port()
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f"[http]\nport = {port}\nmax_body_bytes = {LIMIT}\n")
    settings = load_settings(cfg, env={"LOOKOUT_WEBHOOK_SECRET": SECRET})
    store = Store(settings.store.path)
    daemon = Daemon(settings, store, build_pipeline(settings, store, Encoder(tiny_model)),
                    ConsoleNotifier(lambda _: None, "never"), build_sources(settings))
    task = asyncio.create_task(daemon.run())
    url = f"http://127.0.0.1:{port}"
    async with aiohttp.ClientSession() as http:
        async def healthy() -> bool:
            try:
                async with http.get(f"{url}/healthz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        for _ in range(200):
            if await healthy():
                break
            await asyncio.sleep(0.05)
        yield Intake(http, url, store)
    daemon.stop()
    await asyncio.wait_for(task, 60)
    store.close()


def item(**fields: object) -> bytes:
    return json.dumps({"text": "a fine text", **fields}).encode()


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


HOSTILE = [
    ("deep JSON", f'{{"text": "x", "meta": {{"a": {nested(100_000)}}}}}'.encode(),
     "not valid JSON: nested deeper than 32 levels"),
    ("deep meta", f'{{"text": "x", "meta": {{"a": {nested(40)}}}}}'.encode(),
     "item 0: 'meta' is nested deeper than 32 levels"),
    ("5000 digits", b'{"text": "x", "meta": {"n": ' + b"7" * 5000 + b"}}", "an integer of more than 20 digits"),
    ("21 digits", b'[{"text": "x", "meta": {"n": -' + b"1" * 21 + b"}}]", "an integer of more than 20 digits"),
    ("surrogate in text", b'{"text": "broken \\ud83d here"}',
     "item 0: 'text' holds a lone surrogate (an unpaired \\ud800-\\udfff escape)"),
    ("surrogate in a meta key", b'[{"text": "x"}, {"text": "y", "meta": {"k\\udc00": 1}}]',
     "item 1: 'meta' holds a lone surrogate (an unpaired \\ud800-\\udfff escape)"),
    ("surrogate as UTF-8 bytes", b'{"text": "x", "title": "\xed\xa0\x80"}',
     "item 0: 'title' holds a lone surrogate (an unpaired \\ud800-\\udfff escape)"),
    ("invalid UTF-8", b'{"text": "\xff\xfe"}',
     "not valid JSON: 'utf-8' codec can't decode byte 0xff in position 10: invalid start byte"),
    ("year 9999 behind UTC", item(published="9999-12-31T23:59:59-05:00"), "item 0: 'published' is out of range"),
    ("year 1 ahead of UTC", item(published="0001-01-01T00:00:00+01:00"), "item 0: 'published' is out of range"),
    ("year 10000", item(published="10000-01-01T00:00:00Z"), "item 0: 'published' is not an ISO 8601 time"),
    ("NaN", b'{"text": "x", "meta": {"score": NaN}}', "not valid JSON: NaN is not a JSON number"),
    ("-Infinity", b'{"text": "x", "meta": {"score": -Infinity}}', "not valid JSON: -Infinity is not a JSON number"),
    ("1e999", b'{"text": "x", "meta": {"score": 1e999}}', "the number 1e999 is out of range"),
    ("meta a list", item(meta=[1, 2]), "item 0: 'meta' must be a JSON object"),
    ("meta a string", item(meta="tags"), "item 0: 'meta' must be a JSON object"),
    ("meta null", item(meta=None), "item 0: 'meta' must be a JSON object"),
    ("huge title", item(title="t" * 1_000_000), "item 0: 'title' is longer than 2000 characters"),
    ("huge source", item(source="s" * 201), "item 0: 'source' is longer than 200 characters"),
    ("huge id", item(id="i" * 5000), "item 0: 'id' is longer than 1000 characters"),
    ("huge url", item(url="https://x.example/" + "u" * 5000), "item 0: 'url' is longer than 4000 characters"),
    ("huge author", item(author="a" * 501), "item 0: 'author' is longer than 500 characters"),
    ("over the limit", item(text="x" * LIMIT), f"body larger than {LIMIT} bytes"),
]


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("body", "reason"), [pytest.param(b, r, id=name) for name, b, r in HOSTILE])
async def test_hostile_bodies_get_a_4xx_with_the_reason_and_store_nothing(intake: Intake, body: bytes,
                                                                          reason: str) -> None:
    before = await intake.items()
    status, answer = await intake.post(body)
    assert (status, answer) == (413 if reason.startswith("body larger") else 400, {"ok": False, "error": reason})
    assert await intake.items() == before


def big_list(n: int, start: int = 0) -> bytes:
    """``n`` items of about 10 KB each (real text, repeated)."""
    rows = sample_rows(240)
    return json.dumps([{"id": f"bulk-{start + k}", "source": "bulk", "title": rows[k % 240]["title"],
                        "text": (rows[k % 240]["text"] * 20)[:10_000], "meta": {"n": start + k}}
                       for k in range(n)]).encode()


@pytest.mark.asyncio(loop_scope="module")
async def test_a_5_mb_signed_list_under_the_limit_is_stored_whole(intake: Intake) -> None:
    body = big_list(550)
    assert 5_000_000 < len(body) <= LIMIT
    before = await intake.items()
    assert await intake.post(body) == (202, {"ok": True, "received": 550, "stored": 550})
    assert await intake.items() == before + 550


@pytest.mark.asyncio(loop_scope="module")
async def test_a_body_over_the_limit_is_413_with_or_without_a_content_length(intake: Intake) -> None:
    body = big_list(700, start=1000)
    assert len(body) > LIMIT
    before = await intake.items()
    refused = (413, {"ok": False, "error": f"body larger than {LIMIT} bytes"})
    assert await intake.post(body) == refused

    async def chunked() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 65536):
            yield body[at:at + 65536]

    assert await intake.post(chunked(), signature=body) == refused
    answered = asyncio.Event()

    async def endless() -> AsyncIterator[bytes]:
        while not answered.is_set():
            yield b"[" + b" " * 65535

    status = await intake.post(endless(), signature=b"")
    answered.set()
    assert status == refused, "the server answered an endless body: it stopped reading past the limit"
    assert await intake.items() == before


@pytest.mark.asyncio(loop_scope="module")
async def test_a_body_of_exactly_the_limit_is_taken_and_one_byte_more_is_not(intake: Intake) -> None:
    def sized(n: int, key: str) -> bytes:
        body = item(id=key, text="")
        return item(id=key, text="x" * (n - len(body)))

    assert len(sized(LIMIT, "edge")) == LIMIT
    assert await intake.post(sized(LIMIT, "edge")) == (202, {"ok": True, "received": 1, "stored": 1})
    assert (await intake.post(sized(LIMIT + 1, "over")))[0] == 413
