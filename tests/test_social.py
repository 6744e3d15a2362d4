"""Mastodon (REST + server-sent events) and Bluesky (Jetstream websocket) against local servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from monitor.ingest.sources import Batch
from monitor.ingest.sources.bluesky import BlueskyError, BlueskySource
from monitor.ingest.sources.mastodon import MastodonError, MastodonSource
from tests.servers import sample_rows, serve


async def next_batch(stream: AsyncIterator[Batch]) -> Batch:
    return await asyncio.wait_for(stream.__anext__(), 10)


# Mastodon -------------------------------------------------------------------------------------------------------------
def status(n: int, **extra: Any) -> dict[str, Any]:
    row = sample_rows(50)[n % 50]
    return {"id": str(1000 + n), "uri": f"https://social.example/users/a/statuses/{1000 + n}",
            "url": f"https://social.example/@a/{1000 + n}", "created_at": "2026-11-22T08:00:00.000Z",
            "content": f"<p>{row['title']}</p><p>#ops</p>", "spoiler_text": "", "language": "en",
            "account": {"acct": f"user{n}@social.example"}, "tags": [{"name": "ops"}], **extra}


class FakeMastodon:
    def __init__(self) -> None:
        self.timeline: list[dict[str, Any]] = []
        self.events: asyncio.Queue[str | None] = asyncio.Queue()
        self.stream_status = 200
        self.auth: list[str] = []
        self.min_ids: list[str | None] = []

    async def rest(self, request: web.Request) -> web.Response:
        self.auth.append(request.headers.get("Authorization", ""))
        min_id = request.query.get("min_id")
        self.min_ids.append(min_id)
        newer = [s for s in self.timeline if not min_id or int(s["id"]) > int(min_id)]
        page = newer[: int(request.query.get("limit", "20"))]
        return web.json_response(list(reversed(page)))

    async def streaming(self, request: web.Request) -> web.StreamResponse:
        if self.stream_status != 200:
            return web.Response(status=self.stream_status, text="no")
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(b":)\n\n")
        while (event := await self.events.get()) is not None:
            await resp.write(event.encode())
        return resp

    def push(self, kind: str, payload: Any) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self.events.put_nowait(f"event: {kind}\ndata: {data}\n\n")


@pytest.fixture
async def mastodon() -> AsyncIterator[tuple[FakeMastodon, str]]:
    fake = FakeMastodon()
    app = web.Application()
    app.router.add_get("/api/v1/timelines/tag/{tag}", fake.rest)
    app.router.add_get("/api/v1/accounts/{account}/statuses", fake.rest)
    app.router.add_get("/api/v1/streaming/hashtag", fake.streaming)
    runner, port = await serve(app)
    yield fake, f"http://127.0.0.1:{port}"
    fake.events.put_nowait(None)
    await runner.cleanup()


async def test_mastodon_catches_up_then_streams_and_resumes_after_a_close(
        mastodon: tuple[FakeMastodon, str], caplog: pytest.LogCaptureFixture) -> None:
    fake, url = mastodon
    fake.timeline = [status(n) for n in range(3)]
    source = MastodonSource("m", url, timeline="hashtag", tag="ops", token="tok")
    stream = source.stream({})
    first = await next_batch(stream)
    assert [i.raw["status_id"] for i in first.items] == ["1000", "1001", "1002"]
    assert first.position == {"last_id": "1002"} and fake.auth[-1] == "Bearer tok"
    assert first.items[0].title == sample_rows(1)[0]["title"] and first.items[0].text.endswith("#ops")
    caplog.set_level(logging.WARNING, "monitor")
    fake.push("update", status(3))
    fake.push("update", "{broken json")
    fake.push("delete", "1001")
    fake.push("update", status(4, reblog=status(40)))
    assert (await next_batch(stream)).position == {"last_id": "1003"}
    boost = await next_batch(stream)
    assert boost.items[0].raw["status_id"] == "1040" and boost.position == {"last_id": "1004"}
    assert any("malformed update event" in r.getMessage() for r in caplog.records)
    fake.events.put_nowait(None)
    with pytest.raises(MastodonError, match="closed by the server"):
        await next_batch(stream)

    fake.timeline += [status(n) for n in range(5, 8)]
    resumed = source.stream(boost.position)
    catch_up = await next_batch(resumed)
    assert fake.min_ids[-1] == "1004"
    assert [i.raw["status_id"] for i in catch_up.items] == ["1005", "1006", "1007"]
    await resumed.aclose()


async def test_mastodon_refusal_is_a_clear_error(mastodon: tuple[FakeMastodon, str]) -> None:
    fake, url = mastodon
    fake.stream_status = 401
    stream = MastodonSource("m", url, timeline="hashtag", tag="ops").stream({"last_id": "1"})
    await next_batch(stream)
    with pytest.raises(MastodonError, match="stream: HTTP 401"):
        await next_batch(stream)


async def test_an_account_timeline_is_polled_through_rest(mastodon: tuple[FakeMastodon, str]) -> None:
    fake, url = mastodon
    fake.timeline = [status(0)]
    stream = MastodonSource("m", url, timeline="account", account_id="42", poll_seconds=0.05).stream({})
    assert len((await next_batch(stream)).items) == 1
    fake.timeline += [status(1), status(2)]
    batch = await next_batch(stream)
    while not batch.items:
        batch = await next_batch(stream)
    assert [i.raw["status_id"] for i in batch.items] == ["1001", "1002"] and fake.min_ids[-1] == "1000"
    await stream.aclose()


# Bluesky ------------------------------------------------------------------------------------------------------------
def post(n: int, text: str, langs: list[str] | None = None, **record: Any) -> dict[str, Any]:
    return {"did": f"did:plc:author{n}", "time_us": 1_732_000_000_000_000 + n, "kind": "commit",
            "commit": {"rev": "x", "operation": "create", "collection": "app.bsky.feed.post", "rkey": f"3k{n}",
                       "record": {"$type": "app.bsky.feed.post", "text": text, "langs": langs or ["en"],
                                  "createdAt": "2026-11-22T08:00:00.000Z", **record}}}


class FakeJetstream:
    def __init__(self) -> None:
        self.frames: list[Any] = []
        self.queries: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        self.queries.append({k: request.query.getall(k) for k in request.query})
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        since = int(request.query.get("cursor", 0))
        for frame in self.frames:
            if isinstance(frame, dict) and frame.get("time_us", since) < since:
                continue  # Jetstream replays from the cursor on
            if isinstance(frame, bytes):
                await ws.send_bytes(frame)
            else:
                await ws.send_str(frame if isinstance(frame, str) else json.dumps(frame))
        await asyncio.sleep(0.8)
        await ws.close()
        return ws


@pytest.fixture
async def jetstream() -> AsyncIterator[tuple[FakeJetstream, str]]:
    fake = FakeJetstream()
    app = web.Application()
    app.router.add_get("/subscribe", fake.handle)
    runner, port = await serve(app)
    yield fake, f"ws://127.0.0.1:{port}/subscribe"
    await runner.cleanup()


async def test_bluesky_keeps_matching_posts_skips_bad_frames_and_resumes_from_its_cursor(
        jetstream: tuple[FakeJetstream, str], caplog: pytest.LogCaptureFixture) -> None:
    fake, url = jetstream
    quote = {"embed": {"$type": "app.bsky.embed.record", "record": {"uri": "at://did:plc:x/app.bsky.feed.post/q"}}}
    reply = {"reply": {"parent": {"uri": "at://did:plc:y/app.bsky.feed.post/p"}, "root": {"uri": "r"}}}
    fake.frames = [
        post(1, "Our API outage is over"),
        post(2, "Panne de l'API: outage", langs=["fr"]),
        post(3, "lovely weather today"),
        {"did": "did:plc:z", "time_us": 1_732_000_000_000_004, "kind": "commit",
         "commit": {"operation": "create", "collection": "app.bsky.feed.like", "rkey": "l", "record": {}}},
        "{this is not json",
        b"\x00\x01binary",
        post(5, "Is the outage fixed?", **reply),
        post(6, "outage postmortem worth reading", **quote),
    ]
    caplog.set_level(logging.WARNING, "monitor")
    source = BlueskySource("b", url, keywords=["outage"], authors=["did:plc:author1"], languages=["en"])
    stream = source.stream({})
    items, position = [], {}
    with pytest.raises(BlueskyError, match="closed the connection"):
        while True:
            batch = await next_batch(stream)
            items += batch.items
            position = batch.position or position
    assert [i.text for i in items] == ["Our API outage is over", "Is the outage fixed?",
                                       "outage postmortem worth reading"]
    assert items[0].url == "https://bsky.app/profile/did:plc:author1/post/3k1"
    assert items[1].raw["reply_to"] == "at://did:plc:y/app.bsky.feed.post/p"
    assert items[2].raw["quotes"] == "at://did:plc:x/app.bsky.feed.post/q"
    assert position == {"cursor": 1_732_000_000_000_006}
    warnings = [r.getMessage() for r in caplog.records]
    assert sum("malformed event" in w for w in warnings) == 1 and sum("non-text frame" in w for w in warnings) == 1
    assert fake.queries[0] == {"wantedCollections": ["app.bsky.feed.post"], "wantedDids": ["did:plc:author1"]}

    fake.frames = []
    resumed = source.stream(position)
    await next_batch(resumed)
    assert fake.queries[1]["cursor"] == [str(1_732_000_000_000_006 - 5_000_000)]
    await resumed.aclose()


async def test_bluesky_unreachable_is_a_clear_error() -> None:
    stream = BlueskySource("b", "ws://127.0.0.1:9/subscribe", timeout=2).stream({})
    with pytest.raises(BlueskyError, match=r"ClientConnectorError|Cannot connect"):
        await next_batch(stream)


