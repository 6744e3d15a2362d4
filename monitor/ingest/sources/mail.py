"""Email as items: RFC 822 messages parsed with the standard ``email`` package (policy default).

The text that is classified is the text/plain part (or the HTML part reduced to text), decoded with the declared
charset or a fallback when that charset is wrong, with quoted replies and the signature trimmed. Attachments are
listed by name and size, never stored.

What is parsed of one message is bounded (``Limits``): a hostile message costs the parser no more than a large
honest one. What lies beyond a limit is left out and the item's ``raw["note"]`` says what; a message the parser
still fails on keeps its headers and the note names the error.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.feedparser import BytesFeedParser
from email.message import EmailMessage, MIMEPart
from email.policy import EmailPolicy
from email.utils import parsedate_to_datetime
from itertools import islice
from typing import Any, cast

from monitor.ingest.item import Item, make_id, utcnow
from monitor.ingest.text import clean, cut, html_to_text

_ATTRIBUTION = re.compile(r"^(on .{0,200} wrote|.{0,120} (schrieb|a écrit)|-----original message-----)", re.I)
_QUOTE = re.compile(r"^\s*(>|\|)")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_CHUNK = 16_384
log = logging.getLogger(__name__)


class MailError(ValueError):
    """A message that cannot be read at all; the message says why."""


@dataclass(frozen=True)
class Limits:
    """How much of one message is parsed; past a limit the rest is left out and the item's note says so."""

    max_bytes: int = 25 * 2**20
    """Bytes of the whole message (attachments included)."""
    max_lines: int = 1_000_000
    """Lines of the whole message (the parser holds each line as an object: many short ones cost the most)."""
    max_header_bytes: int = 256 * 2**10
    """Bytes of the message's own header block; header lines past it are dropped, the body is still read."""
    max_field_chars: int = 16_384
    """Characters of one header field of the message itself (a long To: or References: fits)."""
    max_part_field_chars: int = 2_048
    """Characters of one header field of a MIME part (Content-Type, Content-Disposition...)."""
    max_encoded_words: int = 500
    """RFC 2047 encoded words (``=?charset?q?...?=``) in one header field."""
    max_fields: int = 10_000
    """Header fields in the whole message, its parts' included."""
    max_parts: int = 500
    """MIME parts."""
    max_containers: int = 50
    """Multipart and message/* parts; this bounds the nesting depth. Further ones are read as plain text."""
    max_html_chars: int = 2 * 2**20
    """Characters of the HTML body reduced to text."""


LIMITS = Limits()


class _Budget:
    """What one message has used of its ``Limits`` while it is parsed, and notes on what was left out."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.fields = self.parts = self.containers = 0
        self.notes: dict[str, None] = {}

    def note(self, text: str) -> None:
        self.notes.setdefault(text)

    def new_part(self, policy: EmailPolicy) -> EmailMessage:
        self.parts += 1
        return EmailMessage(policy=policy)

    def header(self, name: str, value: str) -> str:
        """The value of one header field as it is parsed: cut to the limits, a container past the limit made
        plain text."""
        self.fields += 1
        cap = self.limits.max_field_chars if self.parts <= 1 else self.limits.max_part_field_chars
        if len(value) > cap:
            self.note(f"a {name} header longer than {cap} characters was cut")
            value = value[:cap]
        words = self.limits.max_encoded_words
        if value.count("=?") > words:
            at = -1
            for _ in range(words + 1):
                at = value.find("=?", at + 1)
            self.note(f"a {name} header was cut after {words} encoded words")
            value = value[:at]
        if name.lower() == "content-type" and value.lstrip().lower().startswith(("multipart/", "message/")):
            self.containers += 1
            if self.containers > self.limits.max_containers:
                self.note(f"more than {self.limits.max_containers} multipart or message parts: the further ones "
                          "were read as plain text")
                return "text/plain"
        return value

    def spent(self) -> bool:
        """Whether the message has had its share of parts or header fields; the note says which."""
        if self.parts > self.limits.max_parts:
            self.note(f"more than {self.limits.max_parts} MIME parts: reading stopped there")
        elif self.fields > self.limits.max_fields:
            self.note(f"more than {self.limits.max_fields} header fields: reading stopped there")
        else:
            return False
        return True


class _BoundedPolicy(EmailPolicy):
    """``policy.default`` that passes each header field through its ``budget`` as the parser reads it; ``_read``
    makes one for each message."""

    budget: _Budget | None = None

    def header_source_parse(self, sourcelines: list[str]) -> tuple[str, str]:
        name, value = super().header_source_parse(sourcelines)
        assert self.budget is not None, "a _BoundedPolicy is made with a budget"
        return name, self.budget.header(name, value)


def _cap_header_block(head: bytes, limits: Limits) -> bytes:
    """The header block with each field (its continuation lines included) cut to ``max_field_chars`` and the
    fields that start past ``max_header_bytes`` dropped; it ends with a line break."""
    kept: list[bytes] = []
    total = used = 0
    for line in head.splitlines(keepends=True):
        continued = line[:1] in (b" ", b"\t")
        if not continued and total >= limits.max_header_bytes:
            break
        used = used if continued else 0
        room = limits.max_field_chars - used
        if room <= 0:
            continue
        line = line if len(line) <= room else line[:room].rstrip(b"\r\n") + b"\n"
        used += len(line)
        total += len(line)
        kept.append(line)
    if kept and not kept[-1].endswith(b"\n"):
        kept.append(b"\n")
    return b"".join(kept)


def _bound(raw: bytes, limits: Limits) -> tuple[bytes, list[str]]:
    """``raw`` cut to the limits on bytes and lines, its header block to ``max_header_bytes``; notes on the cuts."""
    notes = []
    if len(raw) > limits.max_bytes:
        notes.append(f"the message is larger than {limits.max_bytes} bytes: only its start was read")
        raw = raw[:limits.max_bytes]
    if raw.count(b"\n") > limits.max_lines:
        at = -1
        for _ in range(limits.max_lines):
            at = raw.find(b"\n", at + 1)
        notes.append(f"the message has more than {limits.max_lines} lines: only the first ones were read")
        raw = raw[:at + 1]
    blank = _BLANK_LINE.search(raw)
    if (blank.start() if blank else len(raw)) > limits.max_header_bytes:
        notes.append(f"the header block is larger than {limits.max_header_bytes} bytes: fields longer than "
                     f"{limits.max_field_chars} characters were cut and the fields past the limit dropped")
        head = _cap_header_block(raw[:blank.start()] if blank else raw, limits)
        raw = head + b"\n" + raw[blank.end():] if blank else head
    return raw, notes


def _read(raw: bytes, limits: Limits) -> tuple[EmailMessage, list[str]]:
    """Parse ``raw`` in chunks, stopping at the chunk where the parts or header fields run out."""
    budget = _Budget(limits)
    parser = BytesFeedParser(policy=_BoundedPolicy(budget=budget, message_factory=budget.new_part))
    for at in range(0, len(raw), _CHUNK):
        parser.feed(raw[at:at + _CHUNK])
        if budget.spent():
            break
    return cast(EmailMessage, parser.close()), list(budget.notes)


def _payload(part: MIMEPart) -> bytes:
    """The part's decoded payload (empty when it has none)."""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def _decode(part: MIMEPart) -> tuple[str, bool]:
    """The part's text and whether a fallback charset had to be used (declared one unknown or wrong)."""
    try:
        text = str(part.get_content())
        if "\ufffd" not in text:
            return text, False
    except (LookupError, UnicodeDecodeError, AssertionError):
        pass
    payload = _payload(part)
    for charset in (part.get_content_charset() or "utf-8", "utf-8"):
        try:
            return payload.decode(charset), charset != part.get_content_charset()
        except (LookupError, UnicodeDecodeError):
            continue
    return payload.decode("cp1252", errors="replace"), True


def trim_reply(text: str) -> str:
    """Drop quoted lines, the "On ... wrote:" line before them, and everything after a ``-- `` signature."""
    lines: list[str] = []
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


def _content(msg: EmailMessage, max_chars: int, limits: Limits,
             notes: list[str]) -> tuple[str, bool, list[dict[str, Any]]]:
    """The message's text (trimmed and cut), whether a fallback charset was used, and its attachments."""
    body_part = msg.get_body(preferencelist=("plain", "html"))
    text, fallback = ("", False)
    if body_part is not None:
        text, fallback = _decode(body_part)
        if body_part.get_content_subtype() == "html":
            if len(text) > limits.max_html_chars:
                notes.append(f"only the first {limits.max_html_chars} characters of the HTML body were read")
                text = text[:limits.max_html_chars]
            text = html_to_text(text)
    elif not msg.is_multipart():
        text, fallback = _decode(msg)
    attachments = []
    for part in islice(msg.iter_attachments(), limits.max_parts):
        attachments.append({"name": part.get_filename() or "(unnamed)", "size": len(_payload(part)),
                            "type": part.get_content_type()})
    return cut(trim_reply(text), max_chars), fallback, attachments


def parse_message(raw: bytes, source: str, max_chars: int = 20_000, limits: Limits = LIMITS) -> Item:
    """One message as an ``Item``, read within ``limits``; ``raw["note"]`` says what was left out (see the module
    docstring). Raises ``MailError`` only when there is nothing readable in it."""
    if not raw.strip():
        raise MailError("empty message")
    raw, notes = _bound(raw, limits)
    try:
        msg, read_notes = _read(raw, limits)
        if not msg.keys() and not msg.get_payload():
            raise MailError("no headers and no body")
        text, fallback, attachments = _content(msg, max_chars, limits, read_notes)
    except MailError:
        raise
    except Exception as exc:
        blank = _BLANK_LINE.search(raw)
        msg, read_notes = _read(raw[:blank.end()] if blank else raw, limits)
        read_notes.append(f"only the headers were read: the body failed with {type(exc).__name__}: {exc}")
        text, fallback, attachments = "", False, []
    notes += read_notes
    message_id = _header(msg, "message-id")
    key = message_id or hashlib.sha256(raw).hexdigest()
    meta: dict[str, Any] = {"message_id": message_id, "from": _header(msg, "from"), "to": _header(msg, "to"),
                            "in_reply_to": _header(msg, "in-reply-to"), "references": _header(msg, "references"),
                            "attachments": attachments, "defects": len(msg.defects)}
    if fallback:
        meta["charset_fallback"] = True
    if notes:
        meta["note"] = "; ".join(notes)
    return Item(id=make_id(source, key), source=source, title=_header(msg, "subject"), text=text,
                author=meta["from"], published=_date(msg), fetched=utcnow(), raw=meta)


def parse_each(messages: Iterable[tuple[str, bytes]], source: str, max_chars: int, where: str) -> list[Item]:
    """Each ``(label, raw message)`` as an ``Item``, so that one message never stops the others: one that fails is
    logged with its reason (``where``: the mailbox) and left out, one read in part is logged with its note."""
    items = []
    for label, raw in messages:
        try:
            item = parse_message(raw, source, max_chars)
        except Exception as exc:
            log.warning("%s: skipped %s: %s", where, label, str(exc) or type(exc).__name__)
            continue
        if "note" in item.raw:
            log.warning("%s: %s read in part: %s", where, label, item.raw["note"])
        items.append(item)
    return items
