"""One contract for every source kind, river-style (``river.checks.check_estimator``): each kind in
``monitor.ingest.registry.KINDS`` is built from a one-row settings file through ``build_sources`` against its real
loopback server, and passes the same checks: the first read, determinism, the resume round trip, the empty stream
and bad input. A kind without a factory here fails every check, so a new kind cannot skip the suite."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp import web

from monitor.config.load import load_settings
from monitor.ingest.item import CLOCK_SKEW, EARLIEST_EVENT, Item
from monitor.ingest.registry import KINDS, build_sources
from monitor.ingest.sources import Source
from monitor.ingest.sources.bluesky import BlueskyError
from monitor.ingest.sources.feed import FeedError
from monitor.ingest.sources.imap import ImapError
from monitor.ingest.sources.mastodon import MastodonError
from monitor.ingest.sources.reddit import RedditError
from tests.dovecot import PASSWORD, USER, Dovecot
from tests.feed_server import FeedServer, Route, rss
from tests.servers import sample_rows, serve
from tests.test_imap import deliver, mail
from tests.test_reddit import FakeReddit
from tests.test_social import FakeJetstream, FakeMastodon, post, status

N = 5
READ_SECONDS = 10.0
"""The most a read may wait for one batch: a polled read past it fails; a stream past it has no more for now."""
QUIET_SECONDS = 2.0
"""The wait for a batch from a stream expected to have nothing (empty or garbage)."""


# Kind factories: each starts its real server, fills it with N items, an empty stream or garbage, and writes one row.
class Harness:
    """One kind's server. ``bad`` names the garbage it can answer; ``again`` is how many of the last items seen a
    resumed read may yield again (a rewind the kind documents; the store drops them by id)."""

    kind: ClassVar[str]
    bad: ClassVar[tuple[str, ...]]
    error: ClassVar[type[Exception]]
    again: ClassVar[int] = 0
    env: ClassVar[dict[str, str]] = {}

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def fill(self, n: int) -> None:
        """Serve ``n`` items (0: an empty stream)."""
        raise NotImplementedError

    async def spoil(self, mode: str) -> None:
        """Answer the garbage named ``mode`` (one of ``bad``)."""
        raise NotImplementedError

    def row(self) -> str:
        """The settings of one row, its name aside, as TOML lines."""
        raise NotImplementedError


class FeedHarness(Harness):
    kind, bad, error = "feed", ("HTTP 500", "not XML", "cut-off body"), FeedError

    async def start(self) -> None:
        self.server = await FeedServer().start()

    async def stop(self) -> None:
        await self.server.stop()

    async def fill(self, n: int) -> None:
        self.server.routes["/feed.xml"] = Route(rss(sample_rows(n)), etag=f'"v{n}"')

    async def spoil(self, mode: str) -> None:
        body = rss(sample_rows(N))
        self.server.routes["/feed.xml"] = {"HTTP 500": Route(b"oops", status=500),
                                           "not XML": Route(b"\x00\xff{not a feed", content_type="text/html"),
                                           "cut-off body": Route(body, cut_at=len(body) // 2)}[mode]

    def row(self) -> str:
        return f'url = "{self.server.url("/feed.xml")}"\ntimeout_seconds = 5'


class ReplayHarness(Harness):
    kind, bad, error = "replay", ("not JSON lines", "rows without text"), ValueError

    def write(self, rows: list[dict[str, Any]] | list[str]) -> None:
        (self.tmp / "stream.jsonl").write_text("".join(r if isinstance(r, str) else json.dumps(r) + "\n"
                                                       for r in rows))

    async def fill(self, n: int) -> None:
        self.write([{"id": r["id"], "title": r["title"], "text": r["text"], "timestamp": f"2003-03-{i + 1:02d}"}
                    for i, r in enumerate(sample_rows(n))])

    async def spoil(self, mode: str) -> None:
        self.write(["{cut off\n", "[1, 2]\n", "\x00\xff\n"] if mode == "not JSON lines"
                   else [{"title": "", "text": ""}, {"text": 5}, {"id": "x"}])

    def row(self) -> str:
        return f'path = "{self.tmp / "stream.jsonl"}"'


class ImapHarness(Harness):
    kind, bad, error = "imap", ("not an IMAP server", "greeting then hang-up"), ImapError
    env: ClassVar[dict[str, str]] = {"LOOKOUT_IMAP_PASSWORD": PASSWORD}

    async def start(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="lookout-dovecot-"))
        self.dovecot = await asyncio.to_thread(Dovecot(self.root).start)
        self.port = self.dovecot.port
        self.garbage: asyncio.Server | None = None

    async def stop(self) -> None:
        if self.garbage is not None:
            self.garbage.close()
        self.dovecot.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    async def fill(self, n: int) -> None:
        if n:
            await deliver(self.dovecot, *(mail(k) for k in range(n)))

    async def spoil(self, mode: str) -> None:
        answer = b"HTTP/1.1 500 Internal Server Error\r\n\r\n<html>" if mode == "not an IMAP server" \
            else b"* OK [CAPABILITY IMAP4rev1] ready\r\n"

        async def talk(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            writer.write(answer)
            await writer.drain()
            writer.close()

        self.garbage = await asyncio.start_server(talk, "127.0.0.1", 0)
        self.port = self.garbage.sockets[0].getsockname()[1]

    def row(self) -> str:
        return f'host = "127.0.0.1"\nport = {self.port}\nuser = "{USER}"\nsecurity = "none"\ntimeout_seconds = 2'


class RedditHarness(Harness):
    kind, bad, error = "reddit", ("HTTP 500", "HTML page", "JSON but no listing"), RedditError

    async def start(self) -> None:
        self.fake = FakeReddit()
        app = web.Application()
        app.router.add_get("/r/{sub}/{listing}.json", self.fake.handle)
        self.runner, self.fake.port = await serve(app)

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def fill(self, n: int) -> None:
        self.fake.add(n)

    async def spoil(self, mode: str) -> None:
        self.fake.add(N)
        if mode == "HTTP 500":
            self.fake.status = 500
        else:
            self.fake.body = b"<html>maintenance</html>" if mode == "HTML page" else b'{"kind": "Listing"}'

    def row(self) -> str:
        return f'subreddit = "test"\nbase_url = "{self.fake.url}"\ntimeout_seconds = 5'


class MastodonHarness(Harness):
    kind, bad, error = "mastodon", ("stream HTTP 500", "broken events", "statuses without ids"), MastodonError

    async def start(self) -> None:
        self.fake = FakeMastodon()
        app = web.Application()
        app.router.add_get("/api/v1/timelines/tag/{tag}", self.fake.rest)
        app.router.add_get("/api/v1/streaming/hashtag", self.fake.streaming)
        self.runner, port = await serve(app)
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.fake.events.put_nowait(None)
        await self.runner.cleanup()

    async def fill(self, n: int) -> None:
        self.fake.timeline = [status(k) for k in range(n)]

    async def spoil(self, mode: str) -> None:
        if mode == "stream HTTP 500":
            self.fake.stream_status = 500
        elif mode == "broken events":
            self.fake.push("update", "{broken json")
            self.fake.push("update", [1, 2])
        else:
            self.fake.timeline = [{"content": "<p>no id</p>"}, {"id": "not a number"}]

    def row(self) -> str:
        return f'base_url = "{self.url}"\ntag = "ops"\ntimeout_seconds = 5'


class BlueskyHarness(Harness):
    kind, bad, error = "bluesky", ("bad frames", "HTTP 404, no websocket"), BlueskyError
    again = 1  # a reconnection rewinds Jetstream's cursor by REWIND_US (5 s), so the last post is read again
    path = "/subscribe"

    async def start(self) -> None:
        self.fake = FakeJetstream()
        app = web.Application()
        app.router.add_get("/subscribe", self.fake.handle)
        self.runner, self.port = await serve(app)

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def fill(self, n: int) -> None:
        rows = sample_rows(n)
        self.fake.frames = [{**post(k, rows[k]["title"] or "untitled"), "time_us": 1_732_000_000_000_000 + k * 10**7}
                            for k in range(n)]

    async def spoil(self, mode: str) -> None:
        if mode == "bad frames":
            no_text = post(1, "x")
            no_text["commit"]["record"].pop("text")
            self.fake.frames = ["{not json", b"\x00\x01binary", no_text, {"kind": "commit", "commit": "what"}]
        else:
            self.path = "/nowhere"

    def row(self) -> str:
        return f'url = "ws://127.0.0.1:{self.port}{self.path}"\ntimeout_seconds = 5'


FACTORIES: dict[str, type[Harness]] = {h.kind: h for h in (FeedHarness, ReplayHarness, ImapHarness, RedditHarness,
                                                            MastodonHarness, BlueskyHarness)}
KIND_NAMES = [kind.name for kind in KINDS]
BAD_INPUT = [pytest.param(name, mode, id=f"{name}-{mode}")
             for name in KIND_NAMES for mode in getattr(FACTORIES.get(name), "bad", ("no factory",))]


@pytest.fixture
async def harness(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    server = FACTORIES[request.param](tmp_path)
    await server.start()
    yield server
    await server.stop()


def build(server: Harness) -> Source:
    """The kind's one source, built from a one-row settings file the way ``lookout run`` builds it."""
    section = next(kind.section for kind in KINDS if kind.name == server.kind)
    path = server.tmp / "lookout.toml"
    path.write_text(f'[[{section}]]\nname = "{server.kind}-conformance"\n{server.row()}\n')
    [source] = build_sources(load_settings(path, env=server.env))
    return source


async def read(source: Source, position: dict[str, Any], want: int,
               wait: float = READ_SECONDS) -> tuple[list[Item], dict[str, Any]]:
    """What one read yields from ``position``, and the position after it: one poll, or a stream's batches until
    ``want`` items came (the first batch when ``want`` is 0), the stream ended, or no batch came within ``wait``."""
    if hasattr(source, "poll"):
        batch = await asyncio.wait_for(source.poll(position), wait)
        return batch.items, batch.position
    items: list[Item] = []
    stream = source.stream(position)
    try:
        while True:
            batch = await asyncio.wait_for(anext(stream), wait)
            items += batch.items
            position = batch.position or position
            if len(items) >= want:
                break
    except (StopAsyncIteration, TimeoutError):
        pass
    finally:
        await asyncio.wait_for(stream.aclose(), wait)
    return items, position


# The checks -----------------------------------------------------------------------------------------------------------
def test_every_registered_kind_has_a_factory() -> None:
    assert set(FACTORIES) == set(KIND_NAMES), "give every kind in KINDS a Harness in FACTORIES"


@pytest.mark.parametrize("harness", KIND_NAMES, indirect=True)
async def test_the_first_read_yields_well_formed_items(harness: Harness) -> None:
    await harness.fill(N)
    source = build(harness)
    items, _ = await read(source, {}, N)
    await source.close()
    assert len(items) == N and len({i.id for i in items}) == N
    latest = time.time() + CLOCK_SKEW.total_seconds()
    for item in items:
        assert item.source == source.name == f"{harness.kind}-conformance"
        assert item.content.strip()
        assert item.published is None or item.published.tzinfo is not None
        assert EARLIEST_EVENT.timestamp() <= item.event_time <= latest


@pytest.mark.parametrize("harness", KIND_NAMES, indirect=True)
async def test_reading_again_from_the_start_gives_the_same_ids_in_the_same_order(harness: Harness) -> None:
    await harness.fill(N)
    source = build(harness)
    first, _ = await read(source, {}, N)
    again, _ = await read(source, {}, N)
    await source.close()
    assert len(first) == N and [i.id for i in again] == [i.id for i in first]


@pytest.mark.parametrize("harness", KIND_NAMES, indirect=True)
async def test_a_read_from_the_returned_position_yields_nothing_already_seen(harness: Harness) -> None:
    await harness.fill(N)
    source = build(harness)
    seen, position = await read(source, {}, N)
    resumed, _ = await read(source, position, harness.again)
    await source.close()
    assert len(seen) == N and position
    repeated = {i.id for i in resumed} & {i.id for i in seen}
    assert repeated <= {i.id for i in seen[N - harness.again:]}


@pytest.mark.parametrize("harness", KIND_NAMES, indirect=True)
async def test_an_empty_stream_gives_an_empty_batch_and_no_error(harness: Harness) -> None:
    await harness.fill(0)
    source = build(harness)
    items, _ = await read(source, {}, 0, wait=QUIET_SECONDS if hasattr(source, "stream") else READ_SECONDS)
    await source.close()
    assert items == []


@pytest.mark.parametrize(("harness", "mode"), BAD_INPUT, indirect=["harness"])
async def test_garbage_from_the_server_is_the_kinds_clear_error_or_nothing(harness: Harness, mode: str) -> None:
    await harness.spoil(mode)
    source = build(harness)
    try:
        items, _ = await read(source, {}, 1, wait=QUIET_SECONDS if hasattr(source, "stream") else READ_SECONDS)
    except harness.error as exc:
        assert str(exc)
    else:
        assert items == []
    finally:
        await source.close()
