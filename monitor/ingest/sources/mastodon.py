"""Mastodon: a timeline followed over the streaming API (server-sent events), with REST catch-up after a gap.

On every (re)connection the REST timeline is read forward from the last status stored (``min_id``), then the
stream takes over; ``update`` events become items, ``delete`` events are ignored, heartbeats are skipped. One
account's posts have no stream, so that timeline is polled through REST.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from monitor.config.fields import setting
from monitor.ingest.item import Item, make_id, utcnow
from monitor.ingest.sources import Batch, Source, SourceKind
from monitor.ingest.text import html_to_text

if TYPE_CHECKING:
    import aiohttp

log = logging.getLogger(__name__)
CATCH_UP_PAGES = 10
TIMELINES = {
    "public": ("/api/v1/timelines/public", "/api/v1/streaming/public", {}),
    "hashtag": ("/api/v1/timelines/tag/{tag}", "/api/v1/streaming/hashtag", {"tag": "{tag}"}),
    "list": ("/api/v1/timelines/list/{list_id}", "/api/v1/streaming/list", {"list": "{list_id}"}),
    "home": ("/api/v1/timelines/home", "/api/v1/streaming/user", {}),
    "account": ("/api/v1/accounts/{account_id}/statuses", "", {}),
}


class MastodonError(Exception):
    """The instance refused, broke off or sent something unreadable."""


def status_to_item(source: str, status: dict[str, Any]) -> Item:
    """A Mastodon status (a boost is read as the boosted status) as an ``Item``."""
    status = status.get("reblog") or status
    text = html_to_text(status.get("content") or "")
    title = status.get("spoiler_text") or text.split("\n", 1)[0][:120]
    created = status.get("created_at")
    return Item(id=make_id(source, status.get("uri") or status["id"]), source=source, title=title, text=text,
                url=status.get("url") or status.get("uri") or "", author=status.get("account", {}).get("acct", ""),
                published=datetime.fromisoformat(created.replace("Z", "+00:00")) if created else None,
                fetched=utcnow(), raw={"status_id": status.get("id"), "language": status.get("language"),
                                       "tags": [t.get("name") for t in status.get("tags", [])]})


class MastodonSource:
    """One Mastodon timeline (public, hashtag, list or home), followed live."""

    kind = "mastodon"
    live = True
    total: int | None = None

    def __init__(self, name: str, base_url: str, timeline: str = "hashtag", tag: str = "", list_id: str = "",
                 account_id: str = "", token: str = "", timeout: float = 30.0, interval: float = 5.0,
                 max_backoff: float = 600.0, poll_seconds: float = 60.0) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        rest, streaming, params = TIMELINES[timeline]
        names = {"tag": tag, "list_id": list_id, "account_id": account_id}
        self.rest_path = rest.format(**names)
        self.stream_path = streaming
        self.stream_params = {k: v.format(**names) for k, v in params.items()}
        self.poll_seconds = poll_seconds
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout = timeout
        self.interval = interval
        self.max_backoff = max_backoff

    async def _catch_up(self, http: aiohttp.ClientSession, last_id: str | None) -> tuple[list[Item], str | None]:
        items: list[Item] = []
        params: dict[str, str] = {"limit": "40"}
        for _ in range(CATCH_UP_PAGES if last_id else 1):
            if last_id:
                params["min_id"] = last_id
            async with http.get(self.base_url + self.rest_path, params=params) as resp:
                if resp.status >= 400:
                    raise MastodonError(f"timeline: HTTP {resp.status} {resp.reason or ''}".strip())
                try:
                    statuses = await resp.json(content_type=None)
                except ValueError as exc:
                    raise MastodonError(f"timeline: not JSON: {exc}") from None
            if not isinstance(statuses, list) or not statuses:
                break
            try:
                statuses.sort(key=lambda s: int(s["id"]))
                items += [status_to_item(self.name, s) for s in statuses]
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise MastodonError(f"timeline: not a list of statuses ({type(exc).__name__}: {exc})") from None
            last_id = statuses[-1]["id"]
            if len(statuses) < int(params["limit"]):
                break
        return items, last_id

    async def stream(self, position: dict[str, Any]) -> AsyncIterator[Batch]:
        import aiohttp

        last_id = position.get("last_id")
        timeout = aiohttp.ClientTimeout(total=None, connect=self.timeout, sock_read=self.timeout * 4)
        async with aiohttp.ClientSession(headers=self.headers, timeout=timeout) as http:
            try:
                caught_up, last_id = await self._catch_up(http, last_id)
                yield Batch(caught_up, {"last_id": last_id})
                while not self.stream_path:
                    await asyncio.sleep(self.poll_seconds)
                    caught_up, last_id = await self._catch_up(http, last_id)
                    yield Batch(caught_up, {"last_id": last_id})
                async with http.get(self.base_url + self.stream_path, params=self.stream_params) as resp:
                    if resp.status >= 400:
                        raise MastodonError(f"stream: HTTP {resp.status} {resp.reason or ''}".strip())
                    async for status in self._events(resp):
                        if last_id and int(status["id"]) <= int(last_id):
                            continue
                        last_id = status["id"]
                        yield Batch([status_to_item(self.name, status)], {"last_id": last_id})
            except aiohttp.ClientError as exc:
                raise MastodonError(f"{type(exc).__name__}: {exc}") from None
        raise MastodonError("the stream was closed by the server")

    async def _events(self, resp: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
        """``update`` payloads from the server-sent events; heartbeats, deletes and bad frames are skipped."""
        event, data = "", []
        async for raw in resp.content:
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            if line.startswith(":"):
                continue
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line:
                if event == "update" and data:
                    try:
                        status = json.loads("\n".join(data))
                        if not isinstance(status, dict) or "id" not in status:
                            raise ValueError("no status id")
                    except ValueError as exc:
                        log.warning("mastodon %s: skipped a malformed update event: %s", self.name, exc)
                    else:
                        yield status
                event, data = "", []

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class MastodonSettings:
    name: str = setting(help="Unique name of the Mastodon source.")
    base_url: str = setting(help="Instance URL, e.g. https://mastodon.social.")
    timeline: str = setting("hashtag", "`hashtag`, `public`, `list`, `home` or `account` (one account's posts).",
                            choices=("hashtag", "public", "list", "home", "account"))
    tag: str = setting("", "timeline=hashtag: the hashtag, without #.")
    list_id: str = setting("", "timeline=list: the list id.")
    account_id: str = setting("", "timeline=account: the account's id (as /api/v1/accounts/lookup returns it).")
    poll_seconds: float = setting(60.0, "timeline=account: seconds between polls (there is no account stream).",
                                  low=0.05)
    token_env: str = setting("LOOKOUT_MASTODON_TOKEN", "Environment variable holding the access token (needed for "
                                                       "home and list; optional otherwise).")
    timeout_seconds: float = setting(30.0, "Seconds before a silent connection counts as dropped.", low=0.1)
    max_backoff_seconds: float = setting(600.0, "Longest wait between reconnection attempts.", low=0.05)


def _check(m: MastodonSettings) -> Iterator[str]:
    for timeline, key, what in (("hashtag", "tag", "a tag"), ("list", "list_id", "a list id"),
                                ("account", "account_id", "an account id")):
        if m.timeline == timeline and not getattr(m, key):
            yield f'{key}: missing; timeline = "{timeline}" needs {what}'


def _build(m: MastodonSettings, secrets: Mapping[str, str]) -> list[Source]:
    return [MastodonSource(m.name, m.base_url, timeline=m.timeline, tag=m.tag, list_id=m.list_id,
                           account_id=m.account_id, token=secrets.get(m.token_env, ""), timeout=m.timeout_seconds,
                           max_backoff=m.max_backoff_seconds, poll_seconds=m.poll_seconds)]


KIND = SourceKind("mastodon", "mastodon", MastodonSettings, _build, target="base_url",
                  secrets={"token_env": False}, check=_check)
