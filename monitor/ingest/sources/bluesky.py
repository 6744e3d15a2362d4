"""Bluesky: posts from a Jetstream websocket (JSON commits of ``app.bsky.feed.post``), filtered locally.

The position is Jetstream's ``time_us`` cursor; a reconnection rewinds it a few seconds so nothing falls in the gap
(posts seen twice are recognised by their ``at://`` URI). Replies and quote posts keep what they answer or quote.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from monitor.config.fields import setting
from monitor.ingest.item import Item, make_id, utcnow
from monitor.ingest.sources import Batch, Source, SourceKind

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)
POST = "app.bsky.feed.post"
REWIND_US = 5_000_000
FLUSH_SECONDS = 0.5
FLUSH_ITEMS = 50


class BlueskyError(Exception):
    """The Jetstream connection failed or was closed."""


def commit_to_item(source: str, event: dict[str, Any]) -> Item | None:
    """A Jetstream event as an ``Item``, or None when it is not a new post."""
    commit = event.get("commit") or {}
    if event.get("kind") != "commit" or commit.get("operation") != "create" or commit.get("collection") != POST:
        return None
    record, did, rkey = commit.get("record") or {}, event["did"], commit["rkey"]
    text = record.get("text")
    if not isinstance(text, str):
        raise ValueError("post record without text")
    uri = f"at://{did}/{POST}/{rkey}"
    embed = record.get("embed") or {}
    quoted = (embed.get("record") or {}).get("uri") or ((embed.get("record") or {}).get("record") or {}).get("uri")
    created = record.get("createdAt")
    try:
        published = datetime.fromisoformat(created.replace("Z", "+00:00")) if isinstance(created, str) else None
    except ValueError:
        published = None
    return Item(id=make_id(source, uri), source=source, title=text.split("\n", 1)[0][:120], text=text,
                url=f"https://bsky.app/profile/{did}/post/{rkey}", author=did, published=published,
                fetched=utcnow(), raw={"uri": uri, "langs": record.get("langs") or [],
                                       "reply_to": ((record.get("reply") or {}).get("parent") or {}).get("uri", ""),
                                       "quotes": quoted or "", "time_us": event.get("time_us")})


class BlueskySource:
    """Posts from Jetstream, kept when they match the keywords and languages (authors filter at the server)."""

    kind = "bluesky"
    live = True
    total: int | None = None

    def __init__(self, name: str, url: str, keywords: Sequence[str] = (), authors: Sequence[str] = (),
                 languages: Sequence[str] = (), timeout: float = 30.0, interval: float = 2.0,
                 max_backoff: float = 300.0) -> None:
        self.name = name
        self.url = url
        self.authors = list(authors)
        self.languages = {lang.lower() for lang in languages}
        self.keywords = re.compile("|".join(rf"\b{re.escape(k)}\b" for k in keywords), re.I) if keywords else None
        self.timeout = timeout
        self.interval = interval
        self.max_backoff = max_backoff

    def wanted(self, item: Item) -> bool:
        if self.languages and not self.languages & {lang.lower() for lang in item.raw["langs"]}:
            return False
        return self.keywords is None or bool(self.keywords.search(item.text))

    def _address(self, cursor: int | None) -> str:
        query = [("wantedCollections", POST), *(("wantedDids", did) for did in self.authors)]
        if cursor:
            query.append(("cursor", str(max(cursor - REWIND_US, 0))))
        return f"{self.url}?{urlencode(query)}"

    async def stream(self, position: dict[str, Any]) -> AsyncIterator[Batch]:
        import aiohttp

        cursor = position.get("cursor")
        try:
            async with aiohttp.ClientSession() as http, http.ws_connect(
                    self._address(cursor), heartbeat=self.timeout, timeout=aiohttp.ClientWSTimeout(
                        ws_receive=self.timeout * 3, ws_close=5)) as ws:
                yield Batch([], {"cursor": cursor} if cursor else {})
                items: list[Item] = []
                flushed = time.monotonic()
                while True:
                    try:
                        message = await ws.receive(timeout=FLUSH_SECONDS)
                    except TimeoutError:
                        message = None
                    if message is not None:
                        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                                            aiohttp.WSMsgType.ERROR):
                            break
                        cursor = self._take(message, items) or cursor
                    if items and (len(items) >= FLUSH_ITEMS or time.monotonic() - flushed >= FLUSH_SECONDS):
                        yield Batch(items, {"cursor": cursor})
                        items, flushed = [], time.monotonic()
                if items:
                    yield Batch(items, {"cursor": cursor})
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise BlueskyError(f"{type(exc).__name__}: {exc}") from None
        raise BlueskyError("Jetstream closed the connection")

    def _take(self, message: aiohttp.WSMessage, items: list[Item]) -> int | None:
        """Add the post in ``message`` to ``items`` if wanted; return the event's cursor."""
        import aiohttp

        if message.type != aiohttp.WSMsgType.TEXT:
            log.warning("bluesky %s: skipped a non-text frame (%s)", self.name, message.type.name)
            return None
        try:
            event = json.loads(message.data)
            item = commit_to_item(self.name, event)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("bluesky %s: skipped a malformed event: %s", self.name, exc)
            return None
        if item is not None and self.wanted(item):
            items.append(item)
        time_us = event.get("time_us")
        return time_us if isinstance(time_us, int) else None

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class BlueskySettings:
    name: str = setting(help="Unique name of the Bluesky source.")
    url: str = setting("wss://jetstream2.us-east.bsky.network/subscribe", "Jetstream websocket endpoint.")
    keywords: tuple[str, ...] = setting(factory=tuple, help="Keep posts containing any of these words (all if empty).")
    authors: tuple[str, ...] = setting(factory=tuple, help="Only posts by these DIDs (all if empty).")
    languages: tuple[str, ...] = setting(factory=tuple, help="Only posts tagged with one of these languages, "
                                                             "e.g. [\"en\"] (all if empty).")
    timeout_seconds: float = setting(30.0, "Seconds before a silent connection counts as dropped.", low=0.1)
    max_backoff_seconds: float = setting(300.0, "Longest wait between reconnection attempts.", low=0.05)


def _build(b: BlueskySettings, _: Mapping[str, str]) -> list[Source]:
    return [BlueskySource(b.name, b.url, keywords=b.keywords, authors=b.authors, languages=b.languages,
                          timeout=b.timeout_seconds, max_backoff=b.max_backoff_seconds)]


KIND = SourceKind("bluesky", "bluesky", BlueskySettings, _build, target="url",
                  no_credentials="Lookout reads Bluesky's public Jetstream and needs no Bluesky credentials")
