"""Untrusted text made safe for Slack mrkdwn: no pings, no mentions, no forged links, no hidden characters."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

from monitor.ingest.text import neutral

MAX_URL = 2000
_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


def escape(text: str) -> str:
    """Untrusted text as one line of mrkdwn: made ``neutral`` (no escape sequences, line breaks, bidi controls or
    zero-width characters of its own), ``&``, ``<`` and ``>`` escaped (so ``<!channel>``, ``<@U1>`` and
    ``<url|text>`` stay literal), and ``@channel``/``@here``/``@everyone`` broken with a zero-width space (the only
    one left in the text)."""
    text = neutral(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), text)


def safe_url(url: str) -> str:
    """An http(s) URL with the characters that end or split a Slack link percent-encoded; '' for anything else."""
    if len(url) > MAX_URL or not re.match(r"^https?://", url, re.IGNORECASE):
        return ""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%-._~")


def link(url: str, label: str) -> str:
    """A mrkdwn link to ``url`` showing ``label``, or the escaped label alone when the URL is not safe."""
    target = safe_url(url)
    label = escape(label).replace("|", "¦")
    return f"<{target}|{label}>" if target else label


def fit(escaped: str, limit: int) -> str:
    """Already-escaped mrkdwn cut to ``limit`` characters without leaving half an ``&entity;`` behind."""
    if len(escaped) <= limit:
        return escaped
    return re.sub(r"&[a-z]*$", "", escaped[: limit - 1]) + "…"


def shorten(text: str, limit: int) -> str:
    """Untrusted text made ``neutral`` and then clipped to ``limit`` characters (in that order, so that hidden
    characters cannot push the visible text past the cut): for ``plain_text``, or to escape or link after."""
    return clip(neutral(text), limit)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters with an ellipsis (cut before escaping, so entities stay whole)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def local(ts: float, zone: str = "UTC") -> str:
    """A time as the team reads it: ``2024-05-01 08:00 JST`` in ``zone`` (an IANA name)."""
    return datetime.fromtimestamp(ts, ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M %Z")


def when(ts: float, zone: str = "UTC") -> str:
    """A time Slack shows in each reader's own time zone (in the team's ``zone`` in clients that cannot)."""
    return f"<!date^{int(ts)}^{{date_short}} {{time}}|{local(ts, zone)}>"
