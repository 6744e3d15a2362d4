"""What travels over Redis: a batch of items (id and text), a batch of results (embeddings as float32 bytes,
predictions and per-item errors as JSON), and the announcement of the model versions in service."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from redis.typing import EncodableT, FieldT

from models.classifier import LabelSpec, Prediction, TaskSpec
from monitor.enrich.pipeline import Encoded

Fields = dict[bytes, bytes]
Outgoing = dict[FieldT, EncodableT]  # fields as they are written


def batch_fields(batch: str, items: list[tuple[str, str]]) -> Outgoing:
    """A batch as stream fields: its id and the ``(item id, text)`` pairs."""
    return {"batch": batch, "items": json.dumps(items)}


def read_batch(fields: Fields) -> tuple[str, list[str], list[str]]:
    """``(batch id, item ids, texts)`` of a batch entry."""
    pairs = json.loads(fields[b"items"])
    return fields[b"batch"].decode(), [p[0] for p in pairs], [p[1] for p in pairs]


@dataclass
class Results:
    """A worker's answer for one batch: the items it enriched and the ones it could not (id → error)."""

    batch: str
    worker: str
    ids: list[str]
    encoded: Encoded
    errors: dict[str, str]

    def fields(self) -> Outgoing:
        embeddings = np.ascontiguousarray(self.encoded.embeddings, dtype=np.float32)
        return {"batch": self.batch, "worker": self.worker, "ids": json.dumps(self.ids),
                "dim": str(embeddings.shape[1] if embeddings.ndim == 2 else 0), "embeddings": embeddings.tobytes(),
                "predictions": json.dumps([[asdict(p) for p in row] for row in self.encoded.predictions]),
                "errors": json.dumps(self.errors)}

    @classmethod
    def read(cls, fields: Fields) -> Results:
        ids = json.loads(fields[b"ids"])
        dim = int(fields[b"dim"])
        embeddings = np.frombuffer(fields[b"embeddings"], dtype=np.float32).reshape(len(ids), dim)
        predictions = [[Prediction(**p) for p in row] for row in json.loads(fields[b"predictions"])]
        return cls(fields[b"batch"].decode(), fields[b"worker"].decode(), ids, Encoded(embeddings, predictions),
                   json.loads(fields[b"errors"]))


def task_json(task: TaskSpec) -> dict[str, Any]:
    return {"name": task.name, "labels": [[label.name, label.description] for label in task.labels],
            "unsure_below": task.unsure_below, "temperature": task.temperature}


def task_spec(data: dict[str, Any]) -> TaskSpec:
    return TaskSpec(data["name"], tuple(LabelSpec(n, d) for n, d in data["labels"]), data["unsure_below"],
                    data["temperature"])


@dataclass(frozen=True)
class Served:
    """One task as the daemon serves it: its spec and its version (None: zero-shot), with the weights' checksum
    the registry recorded."""

    task: TaskSpec
    version: int | None = None
    sha256: str = ""
    int8: bool = False

    @property
    def name(self) -> str:
        return "zero-shot" if self.version is None else f"v{self.version}"

    def json(self) -> dict[str, Any]:
        return {"task": task_json(self.task), "version": self.version, "sha256": self.sha256, "int8": self.int8}

    @classmethod
    def of(cls, data: dict[str, Any]) -> Served:
        return cls(task_spec(data["task"]), data["version"], data["sha256"], data["int8"])


@dataclass(frozen=True)
class Announcement:
    """What workers must serve: every task's version, where to fetch the files of trained ones, and the width of
    the daemon's embeddings (a worker with another encoder must not send its own)."""

    served: tuple[Served, ...]
    url: str
    dim: int

    @property
    def id(self) -> str:
        """A short checksum of what is served; a worker reloads when it changes."""
        body = json.dumps([s.json() for s in self.served], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:12]

    def dumps(self) -> str:
        return json.dumps({"id": self.id, "url": self.url, "dim": self.dim, "served": [s.json() for s in self.served]})

    @classmethod
    def loads(cls, raw: bytes | str) -> Announcement:
        data = json.loads(raw)
        return cls(tuple(Served.of(s) for s in data["served"]), data["url"], int(data["dim"]))
