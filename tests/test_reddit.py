"""The Reddit source against a local server speaking Reddit's listing JSON: paging, 429s, rate-limit headers."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from monitor.ingest.sources.reddit import RedditError, RedditSource
from tests.cli import start
from tests.servers import sample_rows, serve


class FakeReddit:
    """Serves /r/<sub>/new.json newest first, 100 a page, with ``after`` cursors and rate-limit headers."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.requests: list[dict[str, str]] = []
        self.status = 200
        self.body: bytes | None = None
        self.remaining = "100"
        self.port = 0

    def add(self, n: int) -> None:
        rows = sample_rows(240)
        for _ in range(n):
            k = len(self.posts)
            row = rows[k % len(rows)]
            self.posts.append({"kind": "t3", "data": {
                "name": f"t3_{k:05d}", "title": row["title"], "selftext": row["text"][:300], "author": f"user{k}",
                "created_utc": 1_700_000_000 + k, "permalink": f"/r/test/comments/{k:05d}/", "subreddit": "test",
                "score": k, "url": f"https://example.org/{k}"}})

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.query))
        headers = {"X-Ratelimit-Remaining": self.remaining, "X-Ratelimit-Reset": "30", "Retry-After": "7"}
        if self.status != 200:
            return web.Response(status=self.status, text="slow down", headers=headers)
        if self.body is not None:
            return web.Response(body=self.body, headers=headers, content_type="application/json")
        newest_first = list(reversed(self.posts))
        names = [p["data"]["name"] for p in newest_first]
        start_at = names.index(request.query["after"]) + 1 if "after" in request.query else 0
        page = newest_first[start_at:start_at + int(request.query.get("limit", 25))]
        after = page[-1]["data"]["name"] if start_at + len(page) < len(newest_first) and page else None
        return web.json_response({"kind": "Listing", "data": {"after": after, "before": None, "children": page}},
                                 headers=headers)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
async def reddit() -> AsyncIterator[FakeReddit]:
    fake = FakeReddit()
    app = web.Application()
    app.router.add_get("/r/{sub}/{listing}.json", fake.handle)
    runner, fake.port = await serve(app)
    yield fake
    await runner.cleanup()


async def test_polls_page_back_to_the_last_seen_post_and_return_oldest_first(reddit: FakeReddit) -> None:
    reddit.add(130)
    source = RedditSource("r", "test", base_url=reddit.url)
    first = await source.poll({})
    assert len(first.items) == 100, "the first poll reads one page"
    assert first.items[-1].title == reddit.posts[-1]["data"]["title"]
    assert first.items[-1].url == f"{reddit.url}/r/test/comments/00129/"
    assert first.position == {"newest": "t3_00129"}
    reddit.add(150)
    second = await source.poll(first.position)
    assert [i.raw["name"] for i in second.items] == [f"t3_{k:05d}" for k in range(130, 280)]
    assert reddit.requests[-1]["after"] == "t3_00180"
    assert all(r["raw_json"] == "1" and r["limit"] == "100" for r in reddit.requests)
    quiet = await source.poll(second.position)
    assert quiet.items == [] and quiet.position == second.position
    await source.close()


async def test_rate_limits_are_respected_and_errors_explained(reddit: FakeReddit) -> None:
    reddit.add(3)
    source = RedditSource("r", "test", base_url=reddit.url)
    reddit.status = 429
    with pytest.raises(RedditError, match=r"HTTP 429 rate limited \(retry after 7 s\)"):
        await source.poll({})
    reddit.status, reddit.remaining = 200, "0"
    assert len((await source.poll({})).items) == 3
    asked = len(reddit.requests)
    assert (await source.poll({})).items == [] and len(reddit.requests) == asked, "waits for the reset"
    source._wait_until = 0
    reddit.remaining, reddit.body = "100", b"<html>maintenance</html>"
    with pytest.raises(RedditError, match="not a JSON listing"):
        await source.poll({})
    reddit.body = b'{"kind": "Listing", "data": {}}'
    with pytest.raises(RedditError, match="not a Reddit listing"):
        await source.poll({})
    await source.close()


async def test_lookout_run_follows_a_subreddit(reddit: FakeReddit, tmp_path: Path, tiny_model: str) -> None:
    reddit.add(12)
    cfg = tmp_path / "l.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "l.db"}"\n[model]\nembedding = "{tiny_model}"\n'
                   f'[[reddit]]\nname = "r-test"\nsubreddit = "test"\nbase_url = "{reddit.url}"\n')
    proc = await start("run", "--config", str(cfg), "--until-idle")
    _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    db = sqlite3.connect(tmp_path / "l.db")
    assert db.execute("select count(*) from items where state = 'done' and source = 'r-test'").fetchone()[0] == 12
