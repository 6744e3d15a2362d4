"""Posts alerts to Slack with the Web API: retries on 429 (Retry-After) and server errors, paced per channel."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import alert_blocks, digest_blocks, digest_title, fallback_text, question_blocks
from bot.messages import THREAD_NOTE, thread_note
from bot.mrkdwn import escape
from monitor.config.schema import Settings
from monitor.daemon.notify import ConsoleNotifier, DeliveryError, Notifier, Posted, Question
from monitor.enrich.alerts import Alert
from monitor.reports.digest import Digest

RETRYABLE = {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}


def slack_client(token: str, base_url: str = "https://slack.com/api/", rate_limit_retries: int = 3,
                 timeout: int = 30) -> AsyncWebClient:
    """A Web API client that retries failed connects (nothing was sent), 429s (after Retry-After) and 500/503s.
    A request cut off after it was sent is not retried: the message may have been posted already."""
    return AsyncWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[
        AsyncConnectionErrorRetryHandler(max_retry_count=2, error_types=[aiohttp.ClientConnectorError]),
        AsyncRateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        AsyncServerErrorRetryHandler(max_retry_count=2),
    ])


class SlackNotifier:
    """Sends each alert to its channel with ``chat.postMessage``, at most ``per_second`` messages per channel.
    ``tasks`` (task -> label names) gives the alert its relabel menus; times are shown in ``zone``."""

    def __init__(self, token: str, base_url: str = "https://slack.com/api/", per_second: float = 1.0,
                 rate_limit_retries: int = 3, tasks: dict[str, list[str]] | None = None, timeout: int = 30,
                 zone: str = "UTC") -> None:
        self.client = slack_client(token, base_url, rate_limit_retries, timeout)
        self.tasks = tasks or {}
        self.zone = zone
        self.min_gap = 1.0 / per_second
        self._next: dict[str, float] = {}
        self._lock = asyncio.Lock()

    async def _pace(self, channel: str) -> None:
        async with self._lock:
            now = time.monotonic()
            at = max(now, self._next.get(channel, now))
            self._next[channel] = at + self.min_gap
        if at > now:
            await asyncio.sleep(at - now)

    async def ready(self, channel: str) -> None:
        """Wait out ``channel``'s pacing without taking its turn, so the next post to it goes at once."""
        wait = self._next.get(channel, 0.0) - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def send(self, alert: Alert, thread: str = "") -> Posted:
        """Post ``alert`` (in the thread of message ``thread`` when given); returns the channel id and ``ts``."""
        posted = await self._post(alert.channel, text=fallback_text(alert),
                                  blocks=alert_blocks(alert, self.tasks, self.zone),
                                  **({"thread_ts": thread} if thread else {}))
        return Posted(str(posted.get("channel") or alert.channel), str(posted.get("ts", "")))

    async def update_thread(self, root: Alert, latest: Alert, where: Posted, count: int) -> None:
        """Redraw the thread's first message in place (``chat.update``) with the topic's latest size and the count
        of alerts in the thread, keeping the notes people's corrections added under it (read back with
        ``reactions.get``, which needs only ``reactions:read``; without it the notes are left out)."""
        fresh = alert_blocks(dataclasses.replace(root, topic_size=latest.topic_size,
                                                 topic_keywords=latest.topic_keywords or root.topic_keywords),
                             self.tasks, self.zone)
        try:
            message = (await self.client.reactions_get(channel=where.channel, timestamp=where.ts)).get("message")
            kept = [b for b in (message or {}).get("blocks", [])[len(fresh):] if b.get("block_id") != THREAD_NOTE]
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            kept = []
        await self._pace(root.channel)
        await self._call(self.client.chat_update(channel=where.channel, ts=where.ts, text=fallback_text(root),
                                                 blocks=[*fresh, *kept, thread_note(count)][:50]))

    async def _post(self, channel: str, **kwargs: Any) -> dict[str, Any]:
        await self._pace(channel)
        return await self._call(self.client.chat_postMessage(channel=channel, unfurl_links=False,
                                                             unfurl_media=False, **kwargs))

    @staticmethod
    async def _call(request: Awaitable[Any]) -> dict[str, Any]:
        """A Web API call's answer, its failures as ``DeliveryError`` (``unsure`` once the request went out)."""
        try:
            return (await request).data
        except SlackApiError as exc:
            error = str(exc.response.get("error", exc.response.status_code))
            raise DeliveryError(f"Slack said {error}", permanent=error not in RETRYABLE) from None
        except aiohttp.ClientConnectorError as exc:
            raise DeliveryError(f"Slack unreachable: {exc}", permanent=False) from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"no answer from Slack after sending ({type(exc).__name__}: {exc}); the message may "
                                "have been posted", permanent=False, unsure=True) from None

    async def note(self, text: str, channel: str, thread: str) -> str:
        """A line about a training run, in its thread (the first line starts the thread)."""
        posted = await self._post(channel, text=escape(text), **({"thread_ts": thread} if thread else {}))
        return thread or str(posted.get("ts", ""))

    async def ask(self, question: Question) -> None:
        await self._post(question.channel, text=f"Which {escape(question.task)} label is right?",
                         blocks=question_blocks(question))

    async def digest(self, digest: Digest, channel: str) -> None:
        """The digest as a message, with its chart uploaded (files API) into the message's thread."""
        posted = await self._post(channel, text=escape(digest_title(digest, self.zone)),
                                  blocks=digest_blocks(digest, self.zone))
        if digest.chart is None:
            return
        try:
            await self.client.files_upload_v2(channel=str(posted.get("channel", channel)), file=str(digest.chart),
                                              title="Busiest topics over time", thread_ts=str(posted.get("ts", "")))
        except SlackApiError as exc:
            error = str(exc.response.get("error", exc.response.status_code))
            raise DeliveryError(f"the digest's chart was not uploaded: Slack said {error}") from None

    async def close(self) -> None:
        session = getattr(self.client, "session", None)
        if session is not None:
            await session.close()


def make_notifier(settings: Settings, write: Callable[[str], None]) -> Notifier:
    """Slack when ``SLACK_BOT_TOKEN`` is set, otherwise the console."""
    if settings.slack_bot_token:
        return SlackNotifier(settings.slack_bot_token, settings.slack.base_url, settings.slack.messages_per_second,
                             tasks={t.name: [x.name for x in t.labels] for t in settings.tasks},
                             timeout=settings.slack.timeout_seconds, zone=settings.time.timezone)
    return ConsoleNotifier(write, color=settings.console.color)
