"""Email as items: RFC 822 messages parsed with the standard ``email`` package (policy default).

The text that is classified is the text/plain part (or the HTML part reduced to text), decoded with the declared
charset or a fallback when that charset is wrong, with quoted replies and the signature trimmed. Attachments are
listed by name and size, never stored.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from typing import Any

from monitor.item import Item, make_id, utcnow
from monitor.text import clean, cut, html_to_text

_ATTRIBUTION = re.compile(r"^(on .{0,200} wrote|.{0,120} (schrieb|a écrit)|-----original message-----)", re.I)
_QUOTE = re.compile(r"^\s*(>|\|)")


class MailError(ValueError):
    """A message that cannot be read at all; the message says why."""


def _decode(part: EmailMessage) -> tuple[str, bool]:
    """The part's text and whether a fallback charset had to be used (declared one unknown or wrong)."""
    try:
        text = str(part.get_content())
        if "\ufffd" not in text:
            return text, False
    except (LookupError, UnicodeDecodeError, AssertionError):
        pass
    payload = part.get_payload(decode=True) or b""
    for charset in (part.get_content_charset() or "utf-8", "utf-8"):
        try:
            return payload.decode(charset), charset != part.get_content_charset()
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", errors="replace"), True


def trim_reply(text: str) -> str:
    """Drop quoted lines, the "On ... wrote:" line before them, and everything after a ``-- `` signature."""
    lines = []
    for line in text.splitlines():
        if line.rstrip() == "--" and line.startswith("--"):
            break
        if _QUOTE.match(line):
            while lines and (not lines[-1].strip() or _ATTRIBUTION.match(lines[-1].strip())):
                if lines[-1].strip():
                    lines.pop()
                    break
                lines.pop()
            continue
        lines.append(line)
    return clean("\n".join(lines))


def _header(msg: EmailMessage, name: str) -> str:
    try:
        value = msg.get(name)
    except (ValueError, IndexError, AttributeError, TypeError):
        value = next((v for k, v in msg.raw_items() if k.lower() == name), "")
    return " ".join(str(value or "").split())


def _date(msg: EmailMessage) -> datetime | None:
    raw = _header(msg, "date")
    try:
        when = parsedate_to_datetime(raw) if raw else None
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or not 1990 <= when.year <= 2100:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_message(raw: bytes, source: str, max_chars: int = 20_000) -> Item:
    """One message as an ``Item``. Raises ``MailError`` only when there is nothing readable in it."""
    if not raw.strip():
        raise MailError("empty message")
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    if not isinstance(msg, EmailMessage) or (not msg.keys() and not msg.get_payload()):
        raise MailError("no headers and no body")
    body_part = msg.get_body(preferencelist=("plain", "html"))
    text, fallback = ("", False)
    if body_part is not None:
        text, fallback = _decode(body_part)
        if body_part.get_content_subtype() == "html":
            text = html_to_text(text)
    elif not msg.is_multipart():
        text, fallback = _decode(msg)
    text = trim_reply(text)
    text = cut(text, max_chars)
    attachments = []
    for part in msg.iter_attachments():
        payload = part.get_payload(decode=True) or b""
        attachments.append({"name": part.get_filename() or "(unnamed)", "size": len(payload),
                            "type": part.get_content_type()})
    message_id = _header(msg, "message-id")
    key = message_id or hashlib.sha256(raw).hexdigest()
    meta: dict[str, Any] = {"message_id": message_id, "from": _header(msg, "from"), "to": _header(msg, "to"),
                            "in_reply_to": _header(msg, "in-reply-to"), "references": _header(msg, "references"),
                            "attachments": attachments, "defects": len(msg.defects)}
    if fallback:
        meta["charset_fallback"] = True
    return Item(id=make_id(source, key), source=source, title=_header(msg, "subject"), text=text,
                author=meta["from"], published=_date(msg), fetched=utcnow(), raw=meta)
