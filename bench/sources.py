"""Source benchmarks (run on demand): email parsing over the whole SpamAssassin corpus, and Bluesky posts from a
local Jetstream server into the store.

    .venv/bin/python bench/sources.py        # needs ../shared/datasets/spamassassin

1. Messages parsed per second by Lookout's parser (``monitor.ingest.sources.mail.parse_message``: headers, body part,
   charset fallback, HTML to text, reply trimming, attachments), next to the bare standard-library parse
   (``BytesParser(policy=default)`` + ``get_body``) of the same messages in the same run.
2. Posts per second from a local Jetstream websocket through ``BlueskySource`` into the SQLite store (parsing,
   filtering, deduplicating inserts), next to the raw rate at which the same frames cross the websocket.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import mailbox
import sys
import tempfile
import time
from email import policy
from email.parser import BytesParser
from pathlib import Path

from aiohttp import ClientSession, web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from monitor.ingest.sources.bluesky import BlueskySource  # noqa: E402
from monitor.ingest.sources.mail import parse_message  # noqa: E402
from monitor.store.db import Store  # noqa: E402

MBOXES = ROOT.parent / "shared" / "datasets" / "spamassassin" / "mbox"
POSTS = 20_000


def corpus() -> list[bytes]:
    messages = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in sorted(MBOXES.glob("*.mbox.gz")):
            plain = Path(tmp) / path.stem
            plain.write_bytes(gzip.decompress(path.read_bytes()))
            box = mailbox.mbox(plain, create=False)
            messages += [box.get_bytes(key) for key in box.iterkeys()]
            box.close()
    return messages


def bench_mail() -> None:
    messages = corpus()
    started = time.perf_counter()
    for raw in messages:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is not None:
            with contextlib.suppress(LookupError, UnicodeDecodeError):
                body.get_content()
    baseline = len(messages) / (time.perf_counter() - started)
    started = time.perf_counter()
    for raw in messages:
        parse_message(raw, "bench")
    ours = len(messages) / (time.perf_counter() - started)
    print(f"email parsing over {len(messages)} SpamAssassin messages")
    print(f"  stdlib BytesParser + get_body + get_content : {baseline:8.0f} messages/s")
    print(f"  Lookout parse_message                        : {ours:8.0f} messages/s  ({ours / baseline:.2f} of stdlib)")


def frames() -> list[str]:
    return [json.dumps({"did": f"did:plc:a{n % 500}", "time_us": 1_732_000_000_000_000 + n, "kind": "commit",
                        "commit": {"operation": "create", "collection": "app.bsky.feed.post", "rkey": f"k{n}",
                                   "record": {"text": f"post number {n} about the outage" if n % 2 else f"post {n}",
                                              "langs": ["en"], "createdAt": "2026-11-22T08:00:00Z"}}})
            for n in range(POSTS)]


async def bench_jetstream() -> None:
    payload = frames()

    async def handle(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for frame in payload:
            await ws.send_str(frame)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get("/subscribe", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"ws://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/subscribe"  # type: ignore[union-attr]

    started = time.perf_counter()
    async with ClientSession() as http, http.ws_connect(url) as ws:
        received = sum([1 async for _ in ws])
    raw_rate = received / (time.perf_counter() - started)

    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        source = BlueskySource("bench", url)
        stored = 0
        started = time.perf_counter()
        try:
            async for batch in source.stream({}):
                stored += len(await store.call(store.add_items, "bench", "bluesky", batch.items, batch.position))
        except Exception as exc:  # the server closing the stream ends the run
            if "closed" not in str(exc):
                raise
        rate = stored / (time.perf_counter() - started)
        store.close()
    await runner.cleanup()
    print(f"Bluesky posts from a local Jetstream server ({POSTS} frames)")
    print(f"  raw websocket receive                        : {raw_rate:8.0f} frames/s")
    print(f"  BlueskySource -> SQLite store ({stored} posts)  : {rate:8.0f} posts/s  ({rate / raw_rate:.2f} of raw)")


if __name__ == "__main__":
    if not MBOXES.is_dir():
        sys.exit(f"needs {MBOXES} (the shared datasets)")
    bench_mail()
    asyncio.run(bench_jetstream())
