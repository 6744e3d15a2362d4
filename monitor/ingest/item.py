"""The one normalized record that every source produces."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


def make_id(source: str, key: str) -> str:
    """A stable item id from the source's name and the item's own key (guid, message id, line number...)."""
    return hashlib.sha256(f"{source}\x00{key}".encode()).hexdigest()[:20]


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    def content(self) -> str:
        """What the models read: the title, then the text (without repeating a title the text starts with)."""
        if not self.title or self.text.startswith(self.title):
            return self.text or self.title
        return f"{self.title}\n{self.text}"
