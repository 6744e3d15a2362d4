"""The classifiers a worker serves: rebuilt when the daemon announces other versions, swapped whole between two
batches (a batch is enriched by one set, never half by each); a version that cannot be fetched or loaded leaves
the one before it in service, and the error is kept for the heartbeat."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import Executor
from pathlib import Path

from models.classifier import Classifier, ZeroShotClassifier
from models.embedding import Encoder
from models.ladder import open_version
from models.registry import ModelLoadError
from monitor.config.schema import Settings
from monitor.workers.files import fetch
from monitor.workers.wire import Announcement, Served

log = logging.getLogger(__name__)


class Models:
    """What a worker serves now: one classifier per announced task, and the announcement it last acted on."""

    def __init__(self, settings: Settings, encoder: Encoder, cache: Path, compute: Executor) -> None:
        self.settings = settings
        self.encoder = encoder
        self.cache = cache
        self.compute = compute
        self.announced = ""
        self.classifiers: list[Classifier] = []
        self.served: dict[str, Served] = {}
        self.error = ""

    @property
    def ready(self) -> bool:
        return bool(self.announced)

    def versions(self) -> dict[str, str]:
        return {c.task.name: c.version for c in self.classifiers}

    async def update(self, announcement: Announcement) -> None:
        """Serve what ``announcement`` names (once per announcement: a failed version is tried again only when
        the daemon announces something new)."""
        if announcement.id == self.announced:
            return
        current = {c.task.name: c for c in self.classifiers}
        classifiers: list[Classifier] = []
        served: dict[str, Served] = {}
        errors: list[str] = []
        for want in announcement.served:
            name = want.task.name
            if name in current and self.served.get(name) == want:
                classifiers.append(current[name])
                served[name] = want
                continue
            try:
                classifier = await self._load(want, announcement.url)
                served[name] = want
            except ModelLoadError as exc:
                kept = current.get(name) or await self._load(Served(want.task), announcement.url)
                served[name] = self.served.get(name, Served(want.task))
                errors.append(f"task {name}: {want.name} cannot be loaded, {kept.version} stays in service: {exc}")
                log.error("%s", errors[-1])
                classifier = kept
            classifiers.append(classifier)
        self.classifiers, self.served, self.error = classifiers, served, "; ".join(errors)
        self.announced = announcement.id
        log.info("serving %s", ", ".join(f"{t} {v}" for t, v in self.versions().items()) or "no tasks")

    async def _load(self, want: Served, url: str) -> Classifier:
        loop = asyncio.get_running_loop()
        if want.version is None:
            return await loop.run_in_executor(self.compute, ZeroShotClassifier.from_encoder, want.task,
                                              self.encoder.encode)
        folder = await fetch(url, want.task.name, want.version, want.sha256, self.cache, self.settings.secrets)
        m = self.settings.model
        return await loop.run_in_executor(self.compute, lambda: open_version(
            want.task, folder, want.name, m.embedding, device=m.device, int8=want.int8))
