"""The feed source against a real HTTP server on 127.0.0.1: RSS, Atom, 304s, errors, timeouts, bad XML, and
real-size feeds (plain, chunked, gzip) through the daemon into the store."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from models.embedding import Encoder
from monitor.config.load import load_settings
from monitor.config.schema import Settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.ingest.sources.feed import FeedError, FeedSource, parse_feed
from monitor.store.db import Store
from tests.dovecot import free_port
from tests.feed_server import FeedServer, Route, atom, rss
from tests.feeds import feed_guid, make_feed
from tests.servers import sample_rows, wait_for


async def poll(server: FeedServer, path: str, position: dict | None = None, **kw: float):
    source = FeedSource("test", server.url(path), **kw)
    try:
        return await source.poll(position or {})
    finally:
        await source.close()


async def test_rss_items_are_normalised_with_stable_ids_and_plain_text(feed_server: FeedServer) -> None:
    rows = sample_rows(5)
    feed_server.routes["/rss"] = Route(body=rss(rows), etag='"v1"')
    batch = await poll(feed_server, "/rss")
    again = await poll(feed_server, "/rss")
    assert [i.title for i in batch.items] == [r["title"] for r in rows]
    assert [i.id for i in batch.items] == [i.id for i in again.items]
    first = batch.items[0]
    assert first.url == "https://lists.example.org/0" and first.published.year == 2002
    assert "<p>" not in first.text and "<br" not in first.text
    assert first.text.split()[:3] == rows[0]["text"].split()[:3]
    assert first.raw["guid"] == rows[0]["id"]
    assert batch.position == {"etag": '"v1"', "last_modified": ""}


async def test_conditional_get_sends_the_etag_and_a_304_yields_nothing(feed_server: FeedServer) -> None:
    feed_server.routes["/rss"] = Route(body=rss(sample_rows(3)), etag='"v1"')
    first = await poll(feed_server, "/rss")
    second = await poll(feed_server, "/rss", first.position)
    assert second.items == [] and second.position == first.position
    assert feed_server.routes["/rss"].conditional_hits == 1


async def test_atom_entries_with_html_content_and_authors(feed_server: FeedServer) -> None:
    rows = sample_rows(3, start=10)
    feed_server.routes["/atom"] = Route(body=atom(rows), content_type="application/atom+xml")
    batch = await poll(feed_server, "/atom")
    assert [i.title for i in batch.items] == [r["title"] for r in rows]
    assert batch.items[1].author == "List member 1" and batch.items[1].url == "https://atom.example.org/1"
    assert "<b>" not in batch.items[0].text


async def test_entries_without_guid_get_ids_from_link_and_title(feed_server: FeedServer) -> None:
    feed_server.routes["/noguid"] = Route(body=rss(sample_rows(2), guid=False))
    batch = await poll(feed_server, "/noguid")
    assert len({i.id for i in batch.items}) == 2


async def test_a_latin1_feed_decodes_its_characters(feed_server: FeedServer) -> None:
    row = {"id": "x", "title": "Résumé of the café meeting", "text": "Über naïve façade"}
    feed_server.routes["/latin"] = Route(body=rss([row], encoding="iso-8859-1"),
                                         content_type="application/rss+xml; charset=iso-8859-1")
    [item] = (await poll(feed_server, "/latin")).items
    assert item.title == "Résumé of the café meeting" and "Über naïve façade" in item.text


async def test_a_feed_with_a_wrong_declared_encoding_still_yields_its_entries(feed_server: FeedServer) -> None:
    body = rss([{"id": "x", "title": "Café", "text": "déjà vu"}], encoding="iso-8859-1")
    feed_server.routes["/lying"] = Route(body=body, content_type="application/rss+xml; charset=utf-8")
    [item] = (await poll(feed_server, "/lying")).items
    assert item.title.startswith("Caf")


async def test_redirects_are_followed(feed_server: FeedServer) -> None:
    feed_server.routes["/new"] = Route(body=rss(sample_rows(1)))
    feed_server.routes["/old"] = Route(redirect="/new")
    assert len((await poll(feed_server, "/old")).items) == 1


@pytest.mark.parametrize(("route", "message"), [
    (Route(status=500, body=b"oops"), "HTTP 500"),
    (Route(status=404, body=b"gone"), "HTTP 404"),
    (Route(body=b'{"json": "not xml"}'), "malformed feed: .*not well-formed"),
    (Route(body=b"<html><body>not a feed</body></html>", content_type="text/html"),
     "malformed feed: text/html is not an XML media type"),
    (Route(body=b"<?xml version='1.0'?><catalog><book>XML, but no feed</book></catalog>"), "not an RSS or Atom"),
    (Route(body=rss(sample_rows(1)), delay=1.0), "timed out after 0.2 s"),
])
async def test_failures_raise_a_clear_feed_error(feed_server: FeedServer, route: Route, message: str) -> None:
    feed_server.routes["/bad"] = route
    with pytest.raises(FeedError, match=message):
        await poll(feed_server, "/bad", timeout=0.2)


async def test_an_unreachable_host_is_a_feed_error() -> None:
    source = FeedSource("down", "http://127.0.0.1:9/feed", timeout=2)
    with pytest.raises(FeedError, match=r"ClientConnectorError|Connect"):
        await source.poll({})
    await source.close()


def test_a_truncated_feed_keeps_its_readable_entries() -> None:
    body = rss(sample_rows(3))
    items = parse_feed("t", body[: body.rindex(b"<item>") + 20], "application/rss+xml")
    assert [i.title for i in items][:2] == [r["title"] for r in sample_rows(2)]


@pytest.fixture(scope="module")
def encoder(tiny_model: str) -> Encoder:
    return Encoder(tiny_model)


@pytest.fixture(scope="module")
def big_feed() -> bytes:
    """1,500 entries, about 1 MB: many times what one read of the socket buffer returns."""
    return make_feed(1500, text_chars=150)


def feed_settings(tmp_path: Path, tiny_model: str, feeds: dict[str, str], extra: str = "") -> Settings:
    path = tmp_path / "lookout.toml"
    path.write_text(f'[store]\npath = "{tmp_path / "lookout.db"}"\n[model]\nembedding = "{tiny_model}"\n{extra}'
                    + "".join(f'[[feeds]]\nname = "{name}"\nurl = "{url}"\n' for name, url in feeds.items()))
    return load_settings(path, env={"LOOKOUT_WEBHOOK_SECRET": "s"})


async def run_until_idle(settings: Settings, encoder: Encoder) -> Daemon:
    store = Store(settings.store.path)
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), ConsoleNotifier(lambda _: None, "never"),
                    build_sources(settings))
    await asyncio.wait_for(daemon.run(until_idle=True), 120)
    store.close()
    return daemon


def guids(store: Store, source: str) -> list[str]:
    return [json.loads(r["raw"])["guid"] for r in store.db.query("select raw from items where source = ?", [source])]


SERVED = {"plain": {}, "chunked": {"chunked": True}, "gzip": {"gzip": True},
          "gzip-chunked": {"gzip": True, "chunked": True}}


@pytest.mark.parametrize("how", list(SERVED))
async def test_a_large_feed_is_stored_whole_however_it_is_served(feed_server: FeedServer, big_feed: bytes,
                                                                 db_path: Path, how: str) -> None:
    assert len(big_feed) > 600_000
    route = feed_server.routes["/big"] = Route(body=big_feed, etag='"v1"', **SERVED[how])
    batch = await poll(feed_server, "/big")
    store = Store(db_path)
    assert len(store.add_items("big", "feed", batch.items, batch.position)) == 1500
    assert sorted(guids(store, "test")) == sorted(feed_guid(n) for n in range(1500))
    assert store.source_position("big") == {"etag": '"v1"', "last_modified": ""}
    again = await poll(feed_server, "/big", store.source_position("big"))
    assert again.items == [] and route.conditional_hits == 1
    store.close()


@pytest.mark.parametrize("how", list(SERVED))
async def test_a_feed_cut_off_mid_transfer_is_an_error(feed_server: FeedServer, big_feed: bytes, how: str) -> None:
    feed_server.routes["/cut"] = Route(body=big_feed, cut_at=100_000, **SERVED[how])
    with pytest.raises(FeedError, match=r"^the connection closed \d+ bytes into the feed, before its end$"):
        await poll(feed_server, "/cut")


async def test_a_cut_feed_keeps_its_old_position_and_the_next_whole_one_is_stored_once(
        tmp_path: Path, tiny_model: str, encoder: Encoder, feed_server: FeedServer, big_feed: bytes) -> None:
    route = feed_server.routes["/cut"] = Route(body=big_feed, etag='"v2"', cut_at=300_000, chunked=True)
    settings = feed_settings(tmp_path, tiny_model, {"cut": feed_server.url("/cut")})
    assert (await run_until_idle(settings, encoder)).processed == 0
    store = Store(settings.store.path)
    [health] = store.status()["sources"]
    assert (health["failures"], health["items_total"]) == (1, 0) and store.source_position("cut") == {}
    store.close()

    route.cut_at = None
    assert (await run_until_idle(settings, encoder)).processed == 1500
    assert (await run_until_idle(settings, encoder)).processed == 0
    store = Store(settings.store.path)
    assert sorted(guids(store, "cut")) == sorted(feed_guid(n) for n in range(1500))
    assert store.source_position("cut") == {"etag": '"v2"', "last_modified": ""} and route.conditional_hits == 1
    store.close()


@pytest.mark.parametrize("how", list(SERVED))
async def test_a_feed_over_max_bytes_is_refused_however_it_is_served(feed_server: FeedServer, big_feed: bytes,
                                                                     how: str) -> None:
    feed_server.routes["/big"] = Route(body=big_feed, **SERVED[how])
    with pytest.raises(FeedError, match=r"^feed larger than 100000 bytes$"):
        await poll(feed_server, "/big", max_bytes=100_000)


async def test_the_webhook_app_answers_while_a_large_feed_is_parsed(tmp_path: Path, tiny_model: str,
                                                                    encoder: Encoder,
                                                                    feed_server: FeedServer) -> None:
    route = feed_server.routes["/huge"] = Route(body=make_feed(2000), chunked=True)
    port = free_port()
    settings = feed_settings(tmp_path, tiny_model, {"huge": feed_server.url("/huge")}, f"[http]\nport = {port}\n")
    store = Store(settings.store.path)
    daemon = Daemon(settings, store, build_pipeline(settings, store, encoder), ConsoleNotifier(lambda _: None, "never"),
                    build_sources(settings))
    task = asyncio.create_task(daemon.run())

    def stored() -> int:
        return store.db.execute("select count(*) from items").fetchone()[0]

    try:
        await wait_for(lambda: route.sent == 1)
        async with aiohttp.ClientSession() as http:
            for _ in range(5):
                async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
                    assert resp.status == 200
        assert await store.call(stored) == 0, "five answers came while the feed was still being parsed"
        for _ in range(1200):
            if await store.call(stored) == 2000:
                break
            await asyncio.sleep(0.05)
        assert await store.call(stored) == 2000
    finally:
        daemon.stop()
        await asyncio.wait_for(task, 60)
        store.close()
