"""Rows as the store writes and reads them: times as ISO 8601 text, items from their table row, and the small
records the item queries return."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from monitor.ingest.item import Item


def iso_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def row_item(row: dict[str, Any]) -> Item:
    return Item(id=row["id"], source=row["source"], title=row["title"] or "", text=row["text"] or "",
                url=row["url"] or "", author=row["author"] or "", published=parse_time(row["published"]),
                fetched=parse_time(row["fetched"]) or datetime.now(UTC), raw=json.loads(row["raw"] or "{}"))


@dataclass(frozen=True)
class ItemRef:
    """A stored item as lists show it: ``topic_id`` is the topic it joined (None until enriched)."""

    id: str
    title: str
    url: str
    source: str
    topic_id: int | None


def item_ref(row: dict[str, Any]) -> ItemRef:
    return ItemRef(row["id"], row["title"] or "", row["url"] or "", row["source"], row["topic_id"])


@dataclass(frozen=True)
class LabelledItem:
    """An item with its labels as one line (``task=label 0.93, ...``)."""

    item: ItemRef
    labels: str


@dataclass(frozen=True)
class ItemLabel:
    """One of an item's labels, with the confidence and the model that gave it (``human`` for a correction)."""

    task: str
    label: str
    confidence: float
    model: str


@dataclass(frozen=True)
class ItemDetail:
    """An item's state, its topic (``topic_now``: the one it lives on in after merges), its stored embedding (None
    until enriched) and its labels."""

    state: str
    topic_id: int | None
    topic_now: int | None
    embedding: np.ndarray | None
    labels: tuple[ItemLabel, ...]


@dataclass(frozen=True)
class ItemText:
    """The fields of a stored item an LLM may be sent (``llm.fields`` picks among them; "" when the item has none)."""

    id: str
    title: str
    text: str
    author: str
    source: str
    url: str


def item_text_row(row: dict[str, Any]) -> ItemText:
    return ItemText(row["id"], row["title"] or "", row["text"] or "", row["author"] or "", row["source"],
                    row["url"] or "")


@dataclass(frozen=True)
class MapItem:
    """An item as a map places it: ``topic_id`` is the topic it lives on in now (None until enriched), ``label`` its
    label of the mapped task (None when it has none)."""

    id: str
    title: str
    topic_id: int | None
    label: str | None
