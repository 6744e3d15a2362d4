"""The feed source against a real HTTP server on 127.0.0.1: RSS, Atom, 304s, errors, timeouts, bad XML."""

from __future__ import annotations

import pytest

from monitor.sources.feed import FeedError, FeedSource, parse_feed
from tests.servers import FeedServer, Route, atom, rss, sample_rows


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
