"""Sources turn a stream into ``Item`` batches, each with the position to resume from; a ``SourceKind`` tells the
rest of Lookout what it needs to know about one kind of source (``monitor.ingest.registry`` lists them all)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

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


Source = PolledSource | StreamSource
Row = TypeVar("Row")


def _no_problems(_: Any) -> Iterable[str]:
    return ()


@dataclass(frozen=True)
class SourceKind(Generic[Row]):
    """One kind of source: its ``[[section]]`` in the settings file, the dataclass of one row there (its fields built
    with ``monitor.config.fields.setting``), and how a row becomes sources.

    ``build`` turns a row and the secrets read from the environment into its sources (usually one). ``secrets`` maps
    each field whose value names an environment variable holding a secret to whether the variable must be set.
    ``check`` yields the row's problems that no single field's checks catch, each starting with the key
    (``"url = 'x': expected an http:// or https:// URL"``). ``target`` is the field ``lookout watch list`` shows;
    ``no_credentials`` says why the kind takes no credentials, to a user who wrote one in the file."""

    section: str
    name: str
    settings: type[Row]
    build: Callable[[Row, Mapping[str, str]], list[Source]]
    target: str
    secrets: Mapping[str, bool] = field(default_factory=dict)
    check: Callable[[Row], Iterable[str]] = _no_problems
    no_credentials: str = ""
