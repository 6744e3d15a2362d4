"""The Redis side of the hand-off: key names, the connection, the consumer groups and the bounds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError, ResponseError

from monitor.config.schema import ConfigError
from monitor.workers.settings import WorkersSettings

WORKERS_GROUP = "enrich"  # the workers' consumer group on the batches stream
BRAIN_GROUP = "brain"  # the daemon's consumer group on the results stream
BRAIN = "brain"  # the daemon's consumer name
TRAIN_GROUP = "train"  # the training workers' consumer group on the training stream
HEARTBEAT_SECONDS = 2.0
ALIVE_SECONDS = 10.0  # a worker heard from this recently is alive
FORGET_SECONDS = 600.0  # a worker not heard from this long is dropped from the list
BLOCK_MS = 1000  # longest wait of one XREADGROUP
__all__ = ["Entry", "Keys", "RedisError", "check", "connect", "ensure_groups", "next_entry", "read_entries"]

Entry = tuple[bytes, dict[bytes, bytes]]  # a stream entry: its id and fields


@dataclass(frozen=True)
class Keys:
    """The Redis keys one Lookout uses."""

    batches: str
    results: str

    @classmethod
    def of(cls, s: WorkersSettings) -> Keys:
        return cls(s.batches_stream, s.results_stream)

    @property
    def models(self) -> str:
        """The announcement of the model versions in service (a JSON string)."""
        return f"{self.batches}:models"

    @property
    def training(self) -> str:
        """The training runs queued for ``lookout worker --train`` (a stream, consumer group ``train``)."""
        return f"{self.batches}:training"

    @property
    def workers(self) -> str:
        """The workers' heartbeats: a hash of worker name to a JSON status."""
        return f"{self.batches}:workers"


def check(s: WorkersSettings) -> None:
    """The ``[workers]`` checks that span settings."""
    if s.in_flight * 2 > s.maxlen:
        raise ConfigError(f"workers.in_flight = {s.in_flight}: must be at most half of workers.maxlen "
                          f"({s.maxlen}), or batches waiting for a worker could be trimmed away")
    if s.results_stream == s.batches_stream:
        raise ConfigError("workers.results_stream: must differ from workers.batches_stream")
    if s.train and s.train_wait_seconds <= s.claim_timeout_seconds:
        raise ConfigError(f"workers.train_wait_seconds = {s.train_wait_seconds:g}: must exceed "
                          f"workers.claim_timeout_seconds ({s.claim_timeout_seconds:g}), or the run of a worker that "
                          "died would fail before another worker could take it over")


def connect(url: str) -> aioredis.Redis:
    """A client that raises at once on a lost connection (no silent retries): the caller then waits for Redis and
    re-publishes what may have been lost with it."""
    return aioredis.Redis.from_url(url, decode_responses=False, socket_connect_timeout=5,
                                   socket_timeout=BLOCK_MS / 1000 + 10, retry=Retry(NoBackoff(), 0))


async def ensure_groups(r: aioredis.Redis, keys: Keys, training: bool = False) -> None:
    """Create both streams (and, with ``training``, the training stream) and their consumer groups if missing
    (reading from the start, so nothing added before a group existed is skipped)."""
    pairs = [(keys.batches, WORKERS_GROUP), (keys.results, BRAIN_GROUP)]
    for stream, group in [*pairs, (keys.training, TRAIN_GROUP)] if training else pairs:
        try:
            await r.xgroup_create(stream, group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


async def read_entries(r: aioredis.Redis, stream: str, group: str, consumer: str, start: str, count: int,
                       block: int | None) -> list[Entry]:
    """Entries of ``stream`` read through ``group`` as ``consumer`` (``start`` ">": new ones; "0": those read
    before but not acknowledged), waiting up to ``block`` ms; a deleted entry comes with empty fields."""
    got = await r.xreadgroup(group, consumer, {stream: start}, count=count, block=block)
    return [(entry, fields or {}) for _, entries in cast(list[tuple[bytes, list[Entry]]], got or [])
            for entry, fields in entries]


async def next_entry(r: aioredis.Redis, stream: str, group: str, consumer: str,
                     claim_ms: int) -> tuple[Entry | None, bool]:
    """An entry another consumer has held unacknowledged for ``claim_ms`` (then True: it was claimed), else a new
    one (waiting up to ``BLOCK_MS``), else None."""
    _, claimed, _ = cast(tuple[Any, list[Entry], Any],
                         await r.xautoclaim(stream, group, consumer, claim_ms, "0-0", count=1))
    if claimed:
        return claimed[0], True
    got = await read_entries(r, stream, group, consumer, ">", 1, BLOCK_MS)
    return (got[0] if got else None), False
