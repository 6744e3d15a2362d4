"""Reading the settings: one TOML file plus ``LOOKOUT_<SECTION>_<KEY>`` environment variables and overrides, each
value checked against its field, secrets taken only from the environment, then ``validate``."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from monitor.config.schema import LISTS, SECTIONS, WEBHOOK_ENV, ConfigError, LabelSettings, Settings
from monitor.config.validate import validate


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


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a table of settings, got {data!r}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown setting; expected one of {', '.join(known)}")
    values: dict[str, Any] = {}
    for name, f in known.items():
        if name not in data:
            if f.default is MISSING and f.default_factory is MISSING:
                raise ConfigError(f"{where}.{name}: missing; {f.metadata['help']}")
            continue
        if name == "labels":
            if not isinstance(data[name], list):
                raise ConfigError(f"{where}.labels: expected a list of [[tasks.labels]] tables")
            values[name] = tuple(_build(LabelSettings, d, f"{where}.labels[{i}]")
                                 for i, d in enumerate(data[name]))
        else:
            values[name] = _check(f"{where}.{name}", f, data[name])
    return cls(**values)


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


def load_settings(path: str | Path | None = None, env: Mapping[str, str] | None = None,
                  overrides: Mapping[str, Mapping[str, Any]] | None = None) -> Settings:
    """Read ``path`` (TOML; None means defaults only), apply ``LOOKOUT_*`` variables and ``overrides``, validate."""
    env = os.environ if env is None else env
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such configuration file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - set(SECTIONS) - set(LISTS))
    if unknown:
        hint = " (secrets come from the environment)" if "token" in unknown[0] else ""
        raise ConfigError(f"{unknown[0]}: unknown section{hint}; expected one of "
                          f"{', '.join([*SECTIONS, *LISTS])}")
    values: dict[str, Any] = {}
    for section, cls in SECTIONS.items():
        table = data.get(section, {})
        if isinstance(table, Mapping):
            table = dict(table)
            for f in fields(cls):
                var = f"LOOKOUT_{section}_{f.name}".upper()
                if var in env:
                    table[f.name] = _env_value(var, f, env[var])
            table.update((overrides or {}).get(section, {}))
        values[section] = _build(cls, table, section)
    for section, cls in LISTS.items():
        rows = data.get(section, [])
        if not isinstance(rows, list):
            raise ConfigError(f"{section}: expected [[{section}]] tables")
        values[section] = tuple(_build(cls, row, f"{section}[{i}]") for i, row in enumerate(rows))
    for i, box in enumerate(values["imap"]):
        if not env.get(box.password_env):
            raise ConfigError(f"imap[{i}].password_env: the environment variable {box.password_env} is not set")
    secrets = {box.password_env: env[box.password_env] for box in values["imap"]}
    secrets.update({var: env[var] for var in WEBHOOK_ENV if env.get(var)})
    secrets.update({m.token_env: env[m.token_env] for m in values["mastodon"] if env.get(m.token_env)})
    secrets.update({var: env[var] for var in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN") if env.get(var)})
    if env.get(values["llm"].api_key_env):
        secrets[values["llm"].api_key_env] = env[values["llm"].api_key_env]
    if values["http"].port and not any(var in secrets for var in WEBHOOK_ENV):
        raise ConfigError("http.port is set, so POST /ingest needs LOOKOUT_WEBHOOK_SECRET (HMAC) or "
                          "LOOKOUT_WEBHOOK_TOKEN (bearer) in the environment")
    settings = Settings(**values, slack_bot_token=env.get("SLACK_BOT_TOKEN", ""), secrets=secrets)
    validate(settings)
    return settings
