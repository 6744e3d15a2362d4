"""Reddit: a subreddit's new posts or comments from the public JSON listings, paged with ``after``.

Each poll reads pages newest first until it meets the newest item of the previous poll (or ``max_pages``), so a
burst between polls is not missed. Reddit's rate-limit headers are respected: when the allowance is used up,
polls wait for the reset.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from monitor.config.fields import setting
from monitor.ingest.item import Item, make_id, utcnow
from monitor.ingest.sources import Batch, Source, SourceKind
from monitor.ingest.text import html_to_text

if TYPE_CHECKING:
    import aiohttp

USER_AGENT = "python:lookout-monitor:0.1 (a self-hosted team monitoring bot)"


class RedditError(Exception):
    """Reddit answered with an error; the message says which."""


def child_to_item(source: str, child: dict[str, Any], base_url: str) -> Item:
    """A listing child (``t3`` post or ``t1`` comment) as an ``Item``."""
    data = child.get("data", {})
    is_comment = child.get("kind") == "t1"
    text = data.get("body" if is_comment else "selftext") or ""
    title = data.get("link_title", "") if is_comment else data.get("title", "")
    created = data.get("created_utc")
    return Item(id=make_id(source, data["name"]), source=source, title=html_to_text(title), text=text,
                url=base_url.rstrip("/") + data.get("permalink", ""), author=data.get("author", ""),
                published=datetime.fromtimestamp(created, UTC) if isinstance(created, int | float) else None,
                fetched=utcnow(), raw={"name": data["name"], "subreddit": data.get("subreddit", ""),
                                       "score": data.get("score"), "link": data.get("url", "")})


class RedditSource:
    """One subreddit listing, polled every ``interval`` seconds."""

    kind = "reddit"

    def __init__(self, name: str, subreddit: str, listing: str = "new", base_url: str = "https://www.reddit.com",
                 interval: float = 120.0, timeout: float = 20.0, max_backoff: float = 3600.0,
                 max_pages: int = 5) -> None:
        self.name = name
        self.subreddit = subreddit
        self.listing = listing
        self.base_url = base_url.rstrip("/")
        self.interval = interval
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.max_pages = max_pages
        self._session: aiohttp.ClientSession | None = None
        self._wait_until = 0.0

    async def _page(self, after: str | None) -> dict[str, Any]:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(headers={"User-Agent": USER_AGENT})
        params = {"limit": "100", "raw_json": "1", **({"after": after} if after else {})}
        url = f"{self.base_url}/r/{self.subreddit}/{self.listing}.json"
        try:
            async with self._session.get(url, params=params,
                                         timeout=aiohttp.ClientTimeout(total=self.timeout)) as resp:
                remaining, reset = resp.headers.get("X-Ratelimit-Remaining"), resp.headers.get("X-Ratelimit-Reset")
                if remaining is not None and reset is not None and float(remaining) < 1:
                    self._wait_until = time.monotonic() + float(reset)
                if resp.status == 429:
                    wait = resp.headers.get("Retry-After") or reset or "?"
                    raise RedditError(f"HTTP 429 rate limited (retry after {wait} s)")
                if resp.status >= 400:
                    raise RedditError(f"HTTP {resp.status} {resp.reason or ''}".strip())
                data = await resp.json(content_type=None)
        except TimeoutError:
            raise RedditError(f"timed out after {self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise RedditError(f"{type(exc).__name__}: {exc}") from None
        except ValueError as exc:
            raise RedditError(f"not a JSON listing: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("data", {}).get("children"), list):
            raise RedditError("not a Reddit listing")
        return data["data"]

    async def poll(self, position: dict[str, Any]) -> Batch:
        """New posts since the last poll, oldest first; none while Reddit's rate limit is exhausted."""
        if time.monotonic() < self._wait_until:
            return Batch([], position)
        newest = position.get("newest")
        fresh: list[dict[str, Any]] = []
        after = None
        for _ in range(self.max_pages if newest else 1):
            page = await self._page(after)
            names = [c.get("data", {}).get("name") for c in page["children"]]
            if newest in names:
                fresh += page["children"][: names.index(newest)]
                break
            fresh += page["children"]
            after = page.get("after")
            if not after or time.monotonic() < self._wait_until:
                break
        fresh = [c for c in fresh if c.get("data", {}).get("name")]
        items = [child_to_item(self.name, c, self.base_url) for c in reversed(fresh)]
        return Batch(items, {"newest": fresh[0]["data"]["name"] if fresh else newest})

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


@dataclass(frozen=True)
class RedditSettings:
    name: str = setting(help="Unique name of the Reddit source.")
    subreddit: str = setting(help="Subreddit name, without r/.")
    listing: str = setting("new", "`new` (posts) or `comments`.", choices=("new", "comments"))
    interval_seconds: float = setting(120.0, "Seconds between polls.", low=0.05)
    base_url: str = setting("https://www.reddit.com", "Reddit base URL.")
    timeout_seconds: float = setting(20.0, "Seconds before a request is given up.", low=0.05)
    max_backoff_seconds: float = setting(3600.0, "Longest wait between retries after failures.", low=0.05)
    max_pages: int = setting(5, "Most listing pages (100 items each) read per poll.", low=1, high=50)


def _build(r: RedditSettings, _: Mapping[str, str]) -> list[Source]:
    return [RedditSource(r.name, r.subreddit, listing=r.listing, base_url=r.base_url, interval=r.interval_seconds,
                         timeout=r.timeout_seconds, max_backoff=r.max_backoff_seconds, max_pages=r.max_pages)]


KIND = SourceKind("reddit", "reddit", RedditSettings, _build, target="subreddit",
                  no_credentials="Lookout reads Reddit's public listings and needs no Reddit credentials")
