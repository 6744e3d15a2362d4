"""Sources turn a stream into ``Item`` batches, each with the position to resume from."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from monitor.ingest.item import Item


@dataclass
class Batch:
    """Items read from a source, and where the source stands after them."""

    items: list[Item]
    position: dict[str, Any] = field(default_factory=dict)


class PolledSource(Protocol):
    """A source asked for news every ``interval`` seconds (feeds, REST APIs)."""

    name: str
    kind: str
    interval: float
    max_backoff: float

    async def poll(self, position: dict[str, Any]) -> Batch: ...

    async def close(self) -> None: ...


class StreamSource(Protocol):
    """A source that pushes batches as they come (replays, streaming APIs). ``total`` is known for files."""

    name: str
    kind: str
    total: int | None

    def stream(self, position: dict[str, Any]) -> AsyncIterator[Batch]: ...

    async def close(self) -> None: ...
