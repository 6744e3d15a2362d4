"""Rows as the store writes and reads them: times as ISO 8601 text, items from their table row."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from monitor.ingest.item import Item


def iso_time(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value else None


def parse_time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def row_item(row: dict[str, Any]) -> Item:
    return Item(id=row["id"], source=row["source"], title=row["title"] or "", text=row["text"] or "",
                url=row["url"] or "", author=row["author"] or "", published=parse_time(row["published"]),
                fetched=parse_time(row["fetched"]) or datetime.now(UTC), raw=json.loads(row["raw"] or "{}"))
