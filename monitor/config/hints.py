"""What an unknown key in the settings file probably meant: a secret that belongs in the environment (and which
variable), or a misspelt setting (the nearest known name, by ``difflib``); and which settings were given a value
that the others leave unused."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Any

from monitor.config.schema import WEBHOOK_ENV, LlmSettings, Settings, TopicSettings
from monitor.ingest.registry import kind_of

SECRET_WORDS = re.compile(r"token|secret|passw|api_?key|credential|client_id|^key$|^pass$", re.IGNORECASE)


def _slack_variable(key: str) -> str:
    if "signing" in key:
        return "SLACK_SIGNING_SECRET"
    return "SLACK_APP_TOKEN" if "app" in key or key.startswith("xapp") else "SLACK_BOT_TOKEN"


def secret_variable(section: str, key: str, table: Mapping[str, Any]) -> str:
    """The environment variable a secret put in the file as ``[section] key`` is read from; empty when the
    section takes no secret."""
    key = key.lower()
    if section in ("slack", "bot") or (section == "" and "slack" in key):
        return _slack_variable(key)
    if section == "http":
        return WEBHOOK_ENV[1] if "token" in key else WEBHOOK_ENV[0]
    if section == "llm":
        return str(table.get("api_key_env", LlmSettings.api_key_env))
    kind = kind_of(section)
    if kind is None or not kind.secrets:
        return ""
    key = next(iter(kind.secrets))
    return str(table.get(key, getattr(kind.settings, key)))


def unknown_key(section: str, where: str, key: str, known: Iterable[str], table: Mapping[str, Any]) -> str:
    """The problem to report for ``key``, unknown in ``where`` (a section, a row, or the top of the file when
    ``section`` is empty), with the likeliest fix."""
    name = f"{where}.{key}" if where else key
    what = "unknown setting" if section else "unknown section"
    if SECRET_WORDS.search(key):
        kind = kind_of(section)
        if kind is not None and kind.no_credentials:
            return f"{name}: {what}; {kind.no_credentials}: remove it"
        variable = secret_variable(section, key, table)
        if variable:
            return f"{name}: {what}; secrets are not read from the file: set {variable} in the environment instead"
        return f"{name}: {what}; secrets are not read from the file, only from the environment (`lookout settings` " \
               "lists the variables)"
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if close:
        return f"{name}: {what}; did you mean `{close[0]}`?"
    return f"{name}: {what}; expected one of {', '.join(known)}"


def unused_settings(settings: Settings) -> list[str]:
    """The settings changed from their defaults that have no effect with the others, each with what would make it
    count: ``topics.threshold`` while the adaptive topics set their own bar, and the adaptive topics' own settings
    while they are off. Valid settings, so these are notes, not errors."""
    topics, default = settings.topics, TopicSettings()
    if topics.adaptive:
        unused, why = ["threshold"], ("topics.adaptive is on (the default) and sets its own bar; set topics.adaptive "
                                      "= false to use a fixed threshold")
    else:
        unused, why = ["contrast", "max_share"], "it applies only to the adaptive topics (topics.adaptive = true)"
    return [f"topics.{key} = {getattr(topics, key)!r} is not used: {why}"
            for key in unused if getattr(topics, key) != getattr(default, key)]
