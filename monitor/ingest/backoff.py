"""Exponential backoff with jitter, and the once-on-failure / once-on-recovery health record of a source."""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass


def backoff_delay(failures: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Seconds to wait after ``failures`` consecutive failures: ``base * 2**(failures-1)``, capped, jittered ±50%."""
    raw = min(cap, base * 2 ** max(failures - 1, 0))
    return min(cap, raw * (rng or random).uniform(0.5, 1.5))


@dataclass
class Health:
    """A source's failure streak. Logs once when it starts failing and once when it recovers."""

    name: str
    failures: int = 0
    last_error: str = ""

    def failed(self, error: str, log: logging.Logger) -> None:
        if self.failures == 0:
            log.warning("source %s failing: %s", self.name, error)
        self.failures += 1
        self.last_error = error

    def succeeded(self, log: logging.Logger) -> None:
        if self.failures:
            log.warning("source %s recovered after %d failed attempts", self.name, self.failures)
        self.failures = 0
        self.last_error = ""
