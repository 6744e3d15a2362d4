"""Settings written back as a TOML file that ``load_settings`` reads to the same settings: every value that differs
from its default (secrets never, as they live only in the environment)."""

from __future__ import annotations

import json
from dataclasses import MISSING, fields
from typing import Any

from monitor.config.schema import SECTIONS, Settings, lists


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


def _changed(row: Any, skip: tuple[str, ...] = ()) -> list[str]:
    """``key = value`` lines of the fields of ``row`` that are required or differ from their default."""
    lines = []
    for f in fields(row):
        value = getattr(row, f.name)
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        if f.name not in skip and value != default:
            lines.append(f"{f.name} = {_value(value)}")
    return lines


def to_toml(settings: Settings, header: str = "") -> str:
    """``settings`` as TOML, after ``header`` (comment lines)."""
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    for section in SECTIONS:
        changed = _changed(getattr(settings, section))
        if changed:
            lines += ["", f"[{section}]", *changed]
    for section in lists():
        for row in settings.rows(section):
            lines += ["", f"[[{section}]]", *_changed(row, skip=("labels",))]
            for label in getattr(row, "labels", ()):
                lines += [f"  [[{section}.labels]]", *(f"  {line}" for line in _changed(label))]
    return "\n".join(lines).lstrip("\n") + "\n"
