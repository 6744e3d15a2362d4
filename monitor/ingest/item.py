"""The one normalized record that every source produces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

CLOCK_SKEW = timedelta(minutes=5)  # a published time this far past the fetch still counts (clocks disagree)
EARLIEST_EVENT = datetime(1980, 1, 1, tzinfo=UTC)  # before this a published time is a placeholder, not a date


def make_id(source: str, key: str) -> str:
    """A stable item id from the source's name and the item's own key (guid, message id, line number...)."""
    return hashlib.sha256(f"{source}\x00{key}".encode()).hexdigest()[:20]


def utcnow() -> datetime:
    return datetime.now(UTC)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def event_time(published: datetime | None, fetched: datetime) -> float:
    """When an item happened, in epoch seconds: its published time when that is plausible (no later than the fetch
    plus ``CLOCK_SKEW``, not before ``EARLIEST_EVENT``), else when it was fetched."""
    fetched = _aware(fetched)
    if published is not None and EARLIEST_EVENT <= _aware(published) <= fetched + CLOCK_SKEW:
        return _aware(published).timestamp()
    return fetched.timestamp()


@dataclass
class Item:
    """One thing seen on a stream: a feed entry, an email, a post."""

    id: str
    source: str
    title: str
    text: str
    url: str = ""
    author: str = ""
    published: datetime | None = None
    fetched: datetime = field(default_factory=utcnow)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def event_time(self) -> float:
        """When this item happened (epoch seconds): what trends, bursts and topics are timed by."""
        return event_time(self.published, self.fetched)

    @property
    def content(self) -> str:
        """What the models read: the title, then the text (without repeating a title the text starts with)."""
        if not self.title or self.text.startswith(self.title):
            return self.text or self.title
        return f"{self.title}\n{self.text}"
