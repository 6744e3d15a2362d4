"""What ``lookout status`` says of the workers: read from Redis (their heartbeats and the consumer group), so it
needs no running daemon."""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from monitor.workers.settings import WorkersSettings
from monitor.workers.streams import ALIVE_SECONDS, TRAIN_GROUP, WORKERS_GROUP, Keys


def workers_status(s: WorkersSettings) -> dict[str, Any]:
    """Redis's state, the batches and training runs waiting and held, and each worker: alive, device, batches,
    items, the batches it holds, the versions it serves, the run it trains and its last error."""
    keys = Keys.of(s)
    client = redis.Redis.from_url(s.redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        beats = {k.decode(): json.loads(v) for k, v in client.hgetall(keys.workers).items()}
        groups = {g["name"].decode(): g for g in client.xinfo_groups(keys.batches)} if client.exists(
            keys.batches) else {}
        held = ({c["name"].decode(): c["pending"] for c in client.xinfo_consumers(keys.batches, WORKERS_GROUP)}
                if WORKERS_GROUP in groups else {})
        training = ({g["name"].decode(): g for g in client.xinfo_groups(keys.training)}.get(TRAIN_GROUP, {})
                    if client.exists(keys.training) else {})
    except redis.RedisError as exc:
        return {"redis": "unreachable", "error": str(exc), "workers": []}
    finally:
        client.close()
    group = groups.get(WORKERS_GROUP, {})
    now = time.time()
    workers = [{**w, "alive": now - w.get("seen", 0) <= ALIVE_SECONDS, "held": held.get(name, 0)}
               for name, w in sorted(beats.items())]
    return {"redis": "ok", "batches_waiting": group.get("lag", 0), "batches_held": group.get("pending", 0),
            "training_waiting": training.get("lag", 0), "training_held": training.get("pending", 0),
            "workers": workers}
