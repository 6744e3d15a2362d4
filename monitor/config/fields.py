"""The one helper every settings dataclass builds its fields with (here, so that sections kept next to their code,
such as ``[workers]``, can use it without importing the whole schema)."""

from __future__ import annotations

from dataclasses import MISSING, field
from typing import Any


def setting(default: Any = MISSING, help: str = "", *, choices: tuple[str, ...] = (), low: float | None = None,
            high: float | None = None, factory: Any = MISSING) -> Any:
    """A dataclass field carrying its help text and the checks its value must pass."""
    meta = {"help": help, "choices": choices, "low": low, "high": high}
    if factory is not MISSING:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)
