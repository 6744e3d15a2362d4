"""``[workers]``: where the hand-off to ``lookout worker`` processes lives, and how it is bounded."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config.fields import setting


@dataclass(frozen=True)
class WorkersSettings:
    redis_url: str = setting("", "Redis URL (e.g. `redis://brain:6379/0`) over which the daemon hands batches of "
                                 "stored items to `lookout worker` processes and takes their results back; empty: "
                                 "the daemon enriches every item itself, with no Redis.")
    batches_stream: str = setting("lookout:batches", "Redis stream of batches waiting for a worker (consumer group "
                                                     "`enrich`); the model announcement is the key `<name>:models` "
                                                     "and the workers' heartbeats the hash `<name>:workers`.")
    results_stream: str = setting("lookout:results", "Redis stream of enriched batches on their way back to the "
                                                     "daemon (consumer group `brain`).")
    batch_size: int = setting(64, "Items per batch handed to a worker.", low=1, high=4096)
    in_flight: int = setting(8, "Batches handed out and not yet answered before the daemon waits for results; "
                                "keep it well under `maxlen`.", low=1, high=10_000)
    claim_timeout_seconds: float = setting(30.0, "A batch whose worker showed no sign of life for this long (it "
                                                 "died) is claimed by another worker (XAUTOCLAIM); a live worker "
                                                 "renews its claim while it works.", low=0.1)
    maxlen: int = setting(1000, "Entries each stream is trimmed to, approximately (XADD MAXLEN ~).", low=10)
    daemon_url: str = setting("", "Base URL workers fetch model versions from: the daemon's HTTP server as the "
                                  "workers reach it, e.g. `http://brain:8080`; empty: `http://<http.host>:"
                                  "<http.port>`.")
    cache_dir: str = setting("", "Folder where `lookout worker` keeps the model versions it fetched; empty: a "
                                 "temporary folder removed when it stops.")
    train: bool = setting(False, "Training runs are executed by a `lookout worker --train` (a GPU host, say) instead "
                                 "of on the daemon's host: the daemon queues each run on the Redis stream "
                                 "`<batches_stream>:training`, serves its training data over HTTP, and registers the "
                                 "version the worker sends back (the gate decides as for a local run). Needs "
                                 "`redis_url` and `http.port`.")
    train_wait_seconds: float = setting(600.0, "A training run queued for the workers fails, with a message saying "
                                               "why, when no worker took it or the worker training it has not been "
                                               "heard from for this long (a dead worker's run is taken over by "
                                               "another after `claim_timeout_seconds`, so keep this above it).",
                                        low=1.0)
