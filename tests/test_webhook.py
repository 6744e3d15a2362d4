"""Webhook intake: POST /ingest on the daemon's HTTP server, signed with HMAC or a bearer token."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from models.embedding import Encoder
from monitor.config import ConfigError, load_settings
from monitor.daemon import Daemon, build_pipeline, build_sources
from monitor.notify import ConsoleNotifier
from monitor.store import Store
from monitor.webhook import IngestError, parse_payload, sign
from tests.dovecot import free_port
from tests.servers import wait_for

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
