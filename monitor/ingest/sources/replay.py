"""Replays a dated file (JSONL or CSV) as a stream, in event-time order, so that bursts, trends and digests
behave as if it had happened live.

Each row needs a text (``text_column``; the title when there is none); its time comes from ``time_column`` (ISO
8601, a date, or epoch seconds). A file where some row has a time plays in event-time order (rows with equal
times in file order; a row without a plausible time plays with the row before it); a file without any plays in
file order and its items happen as they are read. A replayed item is fetched at its own event time: the replay is the
clock, so an item is never a backfill. ``speed`` plays that many seconds of event time per second (0: as fast as
the store takes them); ``rate`` caps the items per second. The position is the number of rows played, so a
restart resumes where the replay stopped and plays nothing twice.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitor.config.fields import setting
from monitor.ingest.item import CLOCK_SKEW, EARLIEST_EVENT, Item, make_id, utcnow
from monitor.ingest.sources import Batch, Source, SourceKind

log = logging.getLogger(__name__)
UNTHROTTLED_BATCH = 256


def parse_time(value: Any) -> datetime | None:
    """A row's time (ISO 8601 text, a date, or epoch seconds) in UTC, or None when it has none that is plausible
    (before ``EARLIEST_EVENT`` or in the future)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            when = datetime.fromtimestamp(value, UTC)
        elif isinstance(value, str) and value.strip():
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        else:
            return None
    except (ValueError, OverflowError, OSError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return when if EARLIEST_EVENT <= when <= utcnow() + CLOCK_SKEW else None


class ReplaySource:
    """Plays ``path`` from its stored position in event-time order (see the module's docstring)."""

    kind = "replay"

    def __init__(self, name: str, path: str | Path, rate: float = 0.0, limit: int = 0, speed: float = 0.0,
                 file_format: str = "auto", time_column: str = "timestamp", text_column: str = "text",
                 title_column: str = "title", id_column: str = "id") -> None:
        self.name = name
        self.path = Path(path)
        self.rate = rate
        self.speed = speed
        self.limit = limit
        self.csv = file_format == "csv" or (file_format == "auto" and self.path.suffix.lower() in (".csv", ".tsv"))
        self.columns = {"time": time_column, "text": text_column, "title": title_column, "id": id_column}
        if not self.path.is_file():
            raise FileNotFoundError(f"replay {name}: no such file {self.path}")
        self._rows: list[tuple[datetime | None, int, dict[str, Any]]] | None = None
        with self.path.open("rb") as f:
            lines = sum(1 for _ in f) - (1 if self.csv else 0)
        self.total: int | None = min(lines, limit) if limit else lines

    def _read(self) -> Iterator[tuple[int, dict[str, Any]]]:
        with self.path.open(encoding="utf-8", errors="replace", newline="") as f:
            if self.csv:
                dialect = "excel-tab" if self.path.suffix.lower() == ".tsv" else "excel"
                yield from enumerate(csv.DictReader(f, dialect=dialect), start=2)
                return
            for line_no, line in enumerate(f, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except ValueError as exc:
                    log.warning("replay %s: skipped line %d of %s: %s", self.name, line_no, self.path, exc)
                    continue
                if isinstance(row, dict):
                    yield line_no, row
                else:
                    log.warning("replay %s: skipped line %d of %s: not an object", self.name, line_no, self.path)

    def rows(self) -> list[tuple[datetime | None, int, dict[str, Any]]]:
        """The rows in play order, each with its time and line number (read once). In a dated file a row without a
        plausible time takes the time of the row before it (the first row's own, for rows before any)."""
        if self._rows is None:
            rows = [(parse_time(row.get(self.columns["time"])), line_no, row) for line_no, row in self._read()]
            previous = next((when for when, _, _ in rows if when is not None), None)
            if previous is not None:
                for i, (when, line_no, row) in enumerate(rows):
                    previous = when or previous
                    rows[i] = (previous, line_no, row)
                rows.sort(key=lambda r: (r[0], r[1]))
            self._rows = rows[:self.limit] if self.limit else rows
            self.total = len(self._rows)
        return self._rows

    def to_item(self, line_no: int, row: dict[str, Any], when: datetime | None) -> Item:
        """One row as an ``Item``; its id comes from the id column (or ``idx``) when present, else the line."""
        c = self.columns
        title = str(row.get(c["title"]) or row.get("subject") or "")
        text = row.get(c["text"]) or title
        if not isinstance(text, str) or not text.strip():
            raise ValueError(f"no {c['text']!r} text")
        key = row.get(c["id"], row.get("idx", f"line:{line_no}"))
        return Item(id=make_id(self.name, str(key)), source=self.name,
                    title=title or text.strip().splitlines()[0][:120], text=text, url=str(row.get("url") or ""),
                    author=str(row.get("author") or ""), published=when,
                    fetched=when or utcnow(), raw={k: v for k, v in row.items() if k != c["text"]})

    async def stream(self, position: dict[str, Any]) -> AsyncIterator[Batch]:
        rows = await asyncio.to_thread(self.rows)
        start = int(position.get("line", 0))
        began, first = time.monotonic(), next((r[0] for r in rows[start:] if r[0] is not None), None)
        batch: list[Item] = []
        for index in range(start, len(rows)):
            when, line_no, row = rows[index]
            delay = self._due(began, index - start, first, when) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                batch.append(self.to_item(line_no, row, when))
            except ValueError as exc:
                log.warning("replay %s: skipped line %d of %s: %s", self.name, line_no, self.path, exc)
            last = index + 1 == len(rows)
            waits = not last and self._due(began, index + 1 - start, first, rows[index + 1][0]) > time.monotonic()
            if last or waits or len(batch) >= UNTHROTTLED_BATCH:
                yield Batch(batch, {"line": index + 1})
                batch = []
                await asyncio.sleep(0)

    def _due(self, began: float, played: int, first: datetime | None, when: datetime | None) -> float:
        """The monotonic time at which the ``played``-th row of this run is due (``speed`` and ``rate``)."""
        due = began
        if self.speed > 0 and first is not None and when is not None:
            due = max(due, began + (when - first).total_seconds() / self.speed)
        if self.rate > 0:
            due = max(due, began + played / self.rate)
        return due

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class ReplaySettings:
    name: str = setting(help="Unique name of the replay source.")
    path: str = setting(help="JSONL (one object per line) or CSV file with a text column and, to play it in "
                             "event-time order, a time column.")
    format: str = setting("auto", "`jsonl`, `csv`, or `auto` (`csv` for a .csv or .tsv file, else `jsonl`).",
                          choices=("auto", "jsonl", "csv"))
    time_column: str = setting("timestamp", "Column holding each row's time (ISO 8601, a date, or epoch seconds).")
    text_column: str = setting("text", "Column holding each row's text (the title stands in when it is empty).")
    title_column: str = setting("title", "Column holding each row's title (default: the text's first line).")
    id_column: str = setting("id", "Column holding each row's id (default: its line number).")
    speed: float = setting(0.0, "Seconds of event time played per second (3600: an hour a second); 0 plays as "
                                "fast as the pipeline takes them.", low=0.0)
    rate: float = setting(0.0, "Most items per second; 0 sets no limit.", low=0.0)
    limit: int = setting(0, "Stop after this many rows; 0 plays the whole file.", low=0)


def _build(r: ReplaySettings, _: Mapping[str, str]) -> list[Source]:
    return [ReplaySource(r.name, r.path, rate=r.rate, limit=r.limit, speed=r.speed, file_format=r.format,
                         time_column=r.time_column, text_column=r.text_column, title_column=r.title_column,
                         id_column=r.id_column)]


KIND = SourceKind("replays", "replay", ReplaySettings, _build, target="path")
