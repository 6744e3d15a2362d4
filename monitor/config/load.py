"""Reading the settings: one TOML file plus ``LOOKOUT_<SECTION>_<KEY>`` environment variables and overrides, each
value checked against its field, secrets taken only from the environment, then the checks across settings; every
problem is collected and reported at once."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from monitor.config.hints import unknown_key
from monitor.config.schema import SECTIONS, WEBHOOK_ENV, ConfigError, LabelSettings, Settings, lists
from monitor.config.validate import check
from monitor.ingest.registry import KINDS


def _kind(tp: Any) -> str:
    return tp if isinstance(tp, str) else tp.__name__


def _check(where: str, f: Any, value: Any) -> Any:
    kind = _kind(f.type)
    meta = f.metadata
    if kind == "bool" and not isinstance(value, bool):
        raise ConfigError(f"{where} = {value!r}: expected true or false")
    if kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{where} = {value!r}: expected a whole number")
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{where} = {value!r}: expected a number")
        value = float(value)
    if kind == "str" and not isinstance(value, str):
        raise ConfigError(f"{where} = {value!r}: expected a string")
    if kind == "tuple[str, ...]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where} = {value!r}: expected a list of strings")
        wrong = [v for v in value if meta.get("choices") and v not in meta["choices"]]
        if wrong or (meta.get("choices") and not value):
            raise ConfigError(f"{where} = {value!r}: expected one or more of {', '.join(meta['choices'])}")
        return tuple(value)
    if meta.get("choices") and value not in meta["choices"]:
        raise ConfigError(f"{where} = {value!r}: expected one of {', '.join(meta['choices'])}")
    low, high = meta.get("low"), meta.get("high")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"at least {low}" if high is None else f"between {low} and {high}"
        raise ConfigError(f"{where} = {value!r}: expected a number {bounds}")
    return value


def _row_where(section: str, index: int, row: Any) -> str:
    """How a problem names a row: ``alerts "security"`` by its name, ``alerts[0]`` when it has none."""
    name = row.get("name") if isinstance(row, Mapping) else None
    return f'{section} "{name}"' if isinstance(name, str) and name.strip() else f"{section}[{index}]"


def _build(cls: type, data: Any, where: str, section: str, problems: list[str]) -> Any | None:
    """``cls`` from ``data``, every problem added to ``problems``; a bad value is left at its default, and None
    comes back when a required setting is missing."""
    if not isinstance(data, Mapping):
        problems.append(f"{where}: expected a table of settings, got {data!r}")
        return None
    known = {f.name: f for f in fields(cls)}
    problems.extend(unknown_key(section, where, key, known, data) for key in sorted(set(data) - set(known)))
    values: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                problems.append(f"{where}.{name}: missing; {f.metadata['help']}")
        elif name == "labels":
            values[name] = _labels(data[name], where, problems)
        else:
            try:
                values[name] = _check(f"{where}.{name}", f, data[name])
            except ConfigError as exc:
                problems.extend(exc.problems)
    required = {name for name, f in known.items() if f.default is MISSING and f.default_factory is MISSING}
    return cls(**values) if required <= set(values) else None


def _labels(rows: Any, where: str, problems: list[str]) -> tuple[LabelSettings, ...]:
    if not isinstance(rows, list):
        problems.append(f"{where}.labels: expected a list of [[tasks.labels]] tables")
        return ()
    built = (_build(LabelSettings, row, _row_where(f"{where}.labels", i, row), "tasks.labels", problems)
             for i, row in enumerate(rows))
    return tuple(label for label in built if label is not None)


def _env_value(var: str, f: Any, raw: str) -> Any:
    kind = _kind(f.type)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
    except ValueError:
        raise ConfigError(f"{var}={raw!r}: expected a {'whole number' if kind == 'int' else 'number'}") from None
    if kind == "bool":
        if raw.lower() not in ("1", "0", "true", "false", "yes", "no"):
            raise ConfigError(f"{var}={raw!r}: expected true or false")
        return raw.lower() in ("1", "true", "yes")
    return raw


def _read(path: str | Path) -> dict[str, Any]:
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _sections(data: Mapping[str, Any], env: Mapping[str, str], overrides: Mapping[str, Mapping[str, Any]],
              problems: list[str]) -> dict[str, Any]:
    """Every ``[section]`` and ``[[list]]`` built, with the environment and ``overrides`` applied to sections; the
    source kinds' lists go under ``sources``."""
    values: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        table = data.get(section, {})
        if isinstance(table, Mapping):
            table = dict(table)
            for f in fields(cls):
                var = f"LOOKOUT_{section}_{f.name}".upper()
                if var in env:
                    try:
                        table[f.name] = _env_value(var, f, env[var])
                    except ConfigError as exc:
                        problems.extend(exc.problems)
            table.update(overrides.get(section, {}))
        values[section] = _build(cls, table, section, section, problems) or cls()
    values["sources"] = {}
    for section, cls in lists().items():
        rows = data.get(section, [])
        if not isinstance(rows, list):
            problems.append(f"{section}: expected [[{section}]] tables")
            rows = []
        built = (_build(cls, row, _row_where(section, i, row), section, problems) for i, row in enumerate(rows))
        home = values if section in ("tasks", "alerts") else values["sources"]
        home[section] = tuple(row for row in built if row is not None)
    return values


def _secrets(values: Mapping[str, Any], env: Mapping[str, str], problems: list[str]) -> dict[str, str]:
    """The secrets the settings name, from the environment; a source (such as a mailbox) or a webhook without the
    secret it needs is a problem."""
    secrets: dict[str, str] = {}
    for kind in KINDS:
        for i, row in enumerate(values["sources"][kind.section]):
            for key, needed in kind.secrets.items():
                var = getattr(row, key)
                if env.get(var):
                    secrets[var] = env[var]
                elif needed:
                    problems.append(f"{_row_where(kind.section, i, {'name': row.name})}.{key}: the environment "
                                    f"variable {var} is not set")
    secrets.update({var: env[var] for var in WEBHOOK_ENV if env.get(var)})
    secrets.update({var: env[var] for var in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN") if env.get(var)})
    if env.get(values["llm"].api_key_env):
        secrets[values["llm"].api_key_env] = env[values["llm"].api_key_env]
    if values["http"].port and not any(var in secrets for var in WEBHOOK_ENV):
        problems.append("http.port is set, so POST /ingest needs LOOKOUT_WEBHOOK_SECRET (HMAC) or "
                        "LOOKOUT_WEBHOOK_TOKEN (bearer) in the environment")
    return secrets


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Settings:
    """Read ``path`` (TOML; None means defaults only), apply ``LOOKOUT_*`` variables and ``overrides``, validate;
    every problem found is reported together, in one ``ConfigError``."""
    env = os.environ if env is None else env
    data = _read(path) if path is not None else {}
    known = [*SECTIONS, *lists()]
    problems = [unknown_key("", "", key, known, data) for key in sorted(set(data) - set(known))]
    values = _sections(data, env, overrides or {}, problems)
    secrets = _secrets(values, env, problems)
    settings = Settings(**values, slack_bot_token=env.get("SLACK_BOT_TOKEN", ""), secrets=secrets)
    problems.extend(check(settings))
    if problems:
        raise ConfigError(*problems, source=str(path or ""))
    return settings
