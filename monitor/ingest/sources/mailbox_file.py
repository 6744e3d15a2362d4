"""Mailbox files (mbox, gzipped mbox, Maildir) played as a finite stream, for backfills and imports."""

from __future__ import annotations

import asyncio
import gzip
import mailbox
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from monitor.ingest.item import Item
from monitor.ingest.sources import Batch
from monitor.ingest.sources.mail import LIMITS, parse_each

BATCH = 64


class MailboxSource:
    """Every message of an mbox file (``.gz`` too) or a Maildir folder, resuming from the stored message index."""

    def __init__(self, name: str, path: str | Path, fmt: str = "mbox", limit: int = 0,
                 max_chars: int = 20_000) -> None:
        if fmt not in ("mbox", "maildir"):
            raise ValueError(f"unknown mailbox format {fmt!r}; expected mbox or maildir")
        self.name = name
        self.kind = fmt
        self.path = Path(path)
        self.max_chars = max_chars
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if not self.path.exists():
            raise FileNotFoundError(f"{fmt} {self.path}: no such file or folder")
        if fmt == "maildir":
            if not (self.path / "cur").is_dir() and not (self.path / "new").is_dir():
                raise FileNotFoundError(f"{self.path} is not a Maildir (no cur/ or new/)")
            self._box: mailbox.Mailbox = mailbox.Maildir(self.path, factory=None, create=False)
        else:
            self._box = mailbox.mbox(self._plain_mbox(), factory=None, create=False)
        self._keys = sorted(self._box.keys()) if fmt == "maildir" else list(self._box.keys())
        self.total: int | None = min(len(self._keys), limit) if limit else len(self._keys)

    def _plain_mbox(self) -> Path:
        if self.path.suffix != ".gz":
            return self.path
        self._tmp = tempfile.TemporaryDirectory(prefix="lookout-mbox-")
        plain = Path(self._tmp.name) / self.path.stem
        with gzip.open(self.path, "rb") as src, plain.open("wb") as dst:
            shutil.copyfileobj(src, dst)
        return plain

    def _messages(self, start: int, stop: int) -> Iterator[tuple[str, bytes]]:
        """Each message's number and its first bytes: one more than the parser reads, so it can tell it is cut."""
        for index in range(start, stop):
            with self._box.get_file(self._keys[index]) as file:
                yield f"message {index + 1}", file.read(LIMITS.max_bytes + 1)

    def _read(self, start: int, stop: int) -> list[Item]:
        return parse_each(self._messages(start, stop), self.name, self.max_chars, f"{self.kind} {self.path}")

    async def stream(self, position: dict[str, Any]) -> AsyncIterator[Batch]:
        start = int(position.get("done", 0))
        end = self.total or 0
        for at in range(start, end, BATCH):
            stop = min(at + BATCH, end)
            yield Batch(await asyncio.to_thread(self._read, at, stop), {"done": stop})

    async def close(self) -> None:
        self._box.close()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
