"""RSS and Atom feeds: fetched with aiohttp (conditional GET), parsed from the bytes with feedparser."""

from __future__ import annotations

import asyncio
import calendar
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.config.fields import setting
from monitor.ingest.item import Item, make_id, utcnow
from monitor.ingest.sources import Batch, Source, SourceKind
from monitor.ingest.text import html_to_text

if TYPE_CHECKING:
    import aiohttp

READ_CHUNK = 64 * 1024
USER_AGENT = "Lookout/0.1 (+https://github.com/lookout; feed monitor)"


class FeedError(Exception):
    """A feed could not be fetched or parsed; the message says why."""


def _time(entry: Any) -> datetime | None:
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return datetime.fromtimestamp(calendar.timegm(parsed), UTC) if parsed else None


def entry_to_item(source: str, entry: Any) -> Item:
    """One feedparser entry as an ``Item``; its id comes from the guid, else from link and title."""
    title = html_to_text(entry.get("title", ""))
    link = entry.get("link", "")
    body = entry.get("content", [{}])[0].get("value") if entry.get("content") else entry.get("summary", "")
    key = entry.get("id") or f"{link}\x00{title}"
    return Item(id=make_id(source, key), source=source, title=title, text=html_to_text(body or ""), url=link,
                author=entry.get("author", ""), published=_time(entry), fetched=utcnow(),
                raw={"guid": entry.get("id", ""), "tags": [t.get("term") for t in entry.get("tags", [])]})


def parse_feed(source: str, body: bytes, content_type: str = "", location: str = "") -> list[Item]:
    """Parse a feed document. A broken but readable feed still yields its entries; an unreadable one raises."""
    import feedparser

    parsed = feedparser.parse(body, response_headers={"content-type": content_type,
                                                      "content-location": location})
    if parsed.bozo and not parsed.entries:
        raise FeedError(f"malformed feed: {parsed.get('bozo_exception')}")
    if not parsed.entries and not parsed.get("version"):
        raise FeedError("not an RSS or Atom document")
    return [entry_to_item(source, e) for e in parsed.entries]


class FeedSource:
    """One feed, polled every ``interval`` seconds, remembering its ETag and Last-Modified."""

    kind = "feed"

    def __init__(self, name: str, url: str, interval: float = 300.0, timeout: float = 20.0,
                 max_backoff: float = 3600.0, max_bytes: int = 10_000_000) -> None:
        self.name = name
        self.url = url
        self.interval = interval
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None

    async def poll(self, position: dict[str, Any]) -> Batch:
        """Fetch the whole feed, then parse it in a thread (the event loop keeps serving everything else); a 304
        yields no items, only the same position. The new position comes back only with the whole document's
        entries, so a cut transfer or an unreadable document leaves the stored one as it was."""
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        headers = {}
        if position.get("etag"):
            headers["If-None-Match"] = position["etag"]
        if position.get("last_modified"):
            headers["If-Modified-Since"] = position["last_modified"]
        try:
            async with self._session.get(self.url, headers=headers, max_redirects=5,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                if resp.status == 304:
                    return Batch([], position)
                if resp.status >= 400:
                    raise FeedError(f"HTTP {resp.status} {resp.reason or ''}".strip())
                body = await self._read(resp)
                new_position = {"etag": resp.headers.get("ETag", ""),
                                "last_modified": resp.headers.get("Last-Modified", "")}
                content_type, location = resp.headers.get("Content-Type", ""), str(resp.url)
        except TimeoutError:
            raise FeedError(f"timed out after {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise FeedError(f"{type(exc).__name__}: {exc}") from None
        items = await asyncio.to_thread(parse_feed, self.name, body, content_type, location)
        return Batch(items, new_position)

    async def _read(self, resp: aiohttp.ClientResponse) -> bytes:
        """The whole (decompressed) body, refused as soon as what is sent or what it decompresses to grows past
        ``max_bytes``."""
        import aiohttp

        too_big = FeedError(f"feed larger than {self.max_bytes} bytes")
        if resp.content_length is not None and resp.content_length > self.max_bytes:
            raise too_big
        body = bytearray()
        try:
            async for chunk in resp.content.iter_chunked(READ_CHUNK):
                body += chunk
                if len(body) > self.max_bytes:
                    raise too_big
        except aiohttp.ClientPayloadError:
            raise FeedError(f"the connection closed {len(body)} bytes into the feed, before its end") from None
        return bytes(body)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True)
class FeedSettings:
    name: str = setting(help="Unique name of the feed (used in alerts and `lookout status`).")
    url: str = setting(help="http(s) URL of an RSS or Atom feed.")
    interval_seconds: float = setting(300.0, "Seconds between polls.", low=0.05)
    timeout_seconds: float = setting(20.0, "Seconds before a fetch is given up.", low=0.05)
    max_backoff_seconds: float = setting(3600.0, "Longest wait between retries of a failing feed.", low=0.05)
    max_bytes: int = setting(10_000_000, "Largest feed document read, as sent or after decompression; a "
                                              "larger one is refused without reading the rest.", low=1024)


def _check(feed: FeedSettings) -> Iterator[str]:
    if not re.match(r"^https?://", feed.url):
        yield f"url = {feed.url!r}: expected an http:// or https:// URL"


def _build(f: FeedSettings, _: Mapping[str, str]) -> list[Source]:
    return [FeedSource(f.name, f.url, interval=f.interval_seconds, timeout=f.timeout_seconds,
                       max_backoff=f.max_backoff_seconds, max_bytes=f.max_bytes)]


KIND = SourceKind("feeds", "feed", FeedSettings, _build, target="url", check=_check)
