"""``ConfigError``: every problem found in the settings, reported together, each naming its key."""

from __future__ import annotations


class ConfigError(ValueError):
    """One or more settings are missing, unknown or have a value of the wrong kind; each problem names its key
    (``alerts "security".pattern``) and what was expected. ``source`` is the file read, when there was one."""

    def __init__(self, *problems: str, source: str = "") -> None:
        super().__init__(*problems)
        self.problems = problems
        self.source = source

    def __str__(self) -> str:
        where = f" in {self.source}" if self.source else ""
        if len(self.problems) == 1:
            return f"{self.source}: {self.problems[0]}" if self.source else self.problems[0]
        return f"{len(self.problems)} configuration problems{where}:\n" + "\n".join(f"  {p}" for p in self.problems)
