"""A feed server on 127.0.0.1 for the tests, and the RSS and Atom documents it serves."""

from __future__ import annotations

import asyncio
import gzip
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from xml.sax.saxutils import escape

from aiohttp import web

from tests.servers import serve

CHUNK = 16 * 1024


def rss(rows: list[dict[str, Any]], encoding: str = "utf-8", guid: bool = True,
        published: datetime | list[datetime] = datetime(2002, 8, 22, 12, tzinfo=UTC)) -> bytes:
    """An RSS 2.0 document with one item per row, the i-th published ``published[i]`` or ``i % 60`` seconds after
    ``published``; descriptions carry HTML."""
    items = []
    for i, r in enumerate(rows):
        link = f"https://lists.example.org/{i}"
        guid_xml = f'<guid isPermaLink="false">{escape(r["id"])}</guid>' if guid else ""
        html = "<p>" + escape(r["text"][:400]).replace("\n", "<br/>") + "</p>"
        when = published[i] if isinstance(published, list) else published + timedelta(seconds=i % 60)
        items.append(f"<item><title>{escape(r['title'])}</title><link>{link}</link>{guid_xml}"
                     f"<description>{escape(html)}</description>"
                     f"<pubDate>{format_datetime(when)}</pubDate>"
                     "</item>")
    doc = (f'<?xml version="1.0" encoding="{encoding}"?><rss version="2.0"><channel><title>Sample list</title>'
           f'<link>https://lists.example.org/</link><description>test</description>{"".join(items)}'
           "</channel></rss>")
    return doc.encode(encoding, errors="xmlcharrefreplace")


def atom(rows: list[dict[str, Any]]) -> bytes:
    """An Atom 1.0 document with one entry per row."""
    entries = "".join(
        f"<entry><id>urn:sample:{escape(r['id'])}</id><title>{escape(r['title'])}</title>"
        f'<link href="https://atom.example.org/{i}"/><updated>2002-08-22T12:00:{i % 60:02d}Z</updated>'
        f'<author><name>List member {i}</name></author>'
        f'<content type="html">{escape("<b>" + escape(r["text"][:300]) + "</b>")}'
        "</content></entry>" for i, r in enumerate(rows))
    return ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
            f"<title>Atom sample</title><id>urn:sample</id><updated>2002-08-22T12:00:00Z</updated>{entries}"
            "</feed>").encode()


@dataclass
class Route:
    """What the feed server answers on one path; change it between polls to script a scenario."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str = ""
    delay: float = 0.0
    redirect: str = ""
    chunked: bool = False
    gzip: bool = False
    cut_at: int | None = None
    hits: int = 0
    conditional_hits: int = 0
    sent: int = 0


class FeedServer:
    """Serves ``routes`` on 127.0.0.1 with ETag / If-None-Match handling. A route's body goes out with a
    Content-Length, or ``chunked`` (in 16 KiB chunks, no Content-Length), ``gzip``-compressed on request, or cut
    after ``cut_at`` bytes of the (possibly compressed) body by closing the connection. ``sent`` counts the full
    bodies written to the socket."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.path)
        if route is None:
            return web.Response(status=404, text="no such feed")
        route.hits += 1
        if route.delay:
            await asyncio.sleep(route.delay)
        if route.redirect:
            raise web.HTTPFound(route.redirect)
        if route.etag and request.headers.get("If-None-Match") == route.etag:
            route.conditional_hits += 1
            return web.Response(status=304, headers={"ETag": route.etag})
        headers = {"ETag": route.etag} if route.etag else {}
        headers["Content-Type"] = route.content_type
        body = route.body
        if route.gzip:
            body = gzip.compress(body)
            headers["Content-Encoding"] = "gzip"
        response = web.StreamResponse(status=route.status, headers=headers)
        if route.chunked:
            response.enable_chunked_encoding()
        else:
            response.content_length = len(body)
        await response.prepare(request)
        end = len(body) if route.cut_at is None else route.cut_at
        try:
            for at in range(0, end, CHUNK):
                await response.write(body[at:min(at + CHUNK, end)])
        except ConnectionError:  # the client stopped reading (a feed over its max_bytes)
            return response
        if route.cut_at is not None:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        route.sent += 1
        return response

    async def start(self) -> FeedServer:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._handle)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
