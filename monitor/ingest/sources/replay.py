"""Replays a JSONL file (one object per line with at least ``text``) as a stream, at a chosen rate."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.ingest.item import Item, make_id, utcnow
from monitor.ingest.sources import Batch

log = logging.getLogger(__name__)
UNTHROTTLED_BATCH = 64


def _published(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def row_to_item(source: str, line_no: int, row: dict[str, Any]) -> Item:
    """One JSONL object as an ``Item``; its id comes from ``id`` or ``idx`` when present, else the line number."""
    text = row.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValueError("no 'text' string")
    key = row.get("id", row.get("idx", f"line:{line_no}"))
    title = row.get("title") or row.get("subject") or text.strip().splitlines()[0][:120]
    return Item(id=make_id(source, str(key)), source=source, title=str(title), text=text,
                url=str(row.get("url", "")), author=str(row.get("author", "")),
                published=_published(row.get("timestamp")), fetched=utcnow(),
                raw={k: v for k, v in row.items() if k != "text"})


class ReplaySource:
    """Plays ``path`` from its stored line position; ``rate`` items/s (0: as fast as it is read)."""

    kind = "replay"

    def __init__(self, name: str, path: str | Path, rate: float = 0.0, limit: int = 0) -> None:
        self.name = name
        self.path = Path(path)
        self.rate = rate
        self.limit = limit
        if not self.path.is_file():
            raise FileNotFoundError(f"replay {name}: no such file {self.path}")
        with self.path.open("rb") as f:
            lines = sum(1 for _ in f)
        self.total: int | None = min(lines, limit) if limit else lines

    async def stream(self, position: dict[str, Any]) -> AsyncIterator[Batch]:
        start = reported = at = int(position.get("line", 0))
        batch: list[Item] = []
        began = time.monotonic()
        with self.path.open(encoding="utf-8", errors="replace") as f:
            for line_no, line in enumerate(f):
                if line_no < start:
                    continue
                if self.limit and line_no >= self.limit:
                    break
                at = line_no + 1
                try:
                    batch.append(row_to_item(self.name, line_no, json.loads(line)))
                except (ValueError, AttributeError) as exc:
                    log.warning("replay %s: skipped line %d of %s: %s", self.name, at, self.path, exc)
                if self.rate > 0:
                    delay = began + (at - start) / self.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                elif len(batch) < UNTHROTTLED_BATCH:
                    continue
                yield Batch(batch, {"line": at})
                batch, reported = [], at
                await asyncio.sleep(0)
        if at > reported:
            yield Batch(batch, {"line": at})

    async def close(self) -> None:
        return None
