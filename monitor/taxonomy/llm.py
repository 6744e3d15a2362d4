"""Calls to a language model behind any OpenAI-compatible chat-completions endpoint (OpenAI, a local Ollama or
vLLM server), kept bounded and safe:

* only the configured fields of an item, cut to ``llm.max_chars``, are ever sent (``item_text``);
* answers are cached in the store by a hash of model, prompt version and messages, so a repeated call is free;
* the official ``openai`` client retries timeouts, 429s and 5xx with exponential backoff (honouring Retry-After);
* calls and tokens are counted per UTC day and refused past ``llm.max_calls_per_day`` / ``max_tokens_per_day``;
* whatever goes wrong (unreachable, too slow, 429s after the retries, an answer that is not the JSON asked for,
  the budget spent) raises ``LLMUnavailable`` with the reason, and callers fall back to the embedding method.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from typing import Any

from monitor.config.schema import Settings
from monitor.store.db import Store
from monitor.store.rows import ItemText
from monitor.taxonomy import prompts

FENCE = re.compile(r"^```(?:json)?\s*|\s*```$")


class LLMUnavailable(RuntimeError):
    """The language model cannot be used for this request; the message says why."""


def item_text(row: ItemText, fields: tuple[str, ...], max_chars: int) -> str:
    """What may be sent of a stored item: the configured fields only, cut to ``max_chars``."""
    values = {f: getattr(row, f) for f in fields}
    parts = [f"{f}: {value}" if f in ("author", "source", "url") else value for f, value in values.items() if value]
    return "\n".join(parts)[:max_chars]


class LLM:
    """A chat-completions client with a cache, a daily budget and one kind of failure."""

    def __init__(self, settings: Settings, store: Store) -> None:
        import openai  # on first use: importing it takes about 0.5 s, which the daemon's start-up need not pay

        s = settings.llm
        self.settings = s
        self.store = store
        self.client = openai.OpenAI(base_url=s.base_url, api_key=settings.secrets.get(s.api_key_env) or "none",
                                    timeout=s.timeout_seconds, max_retries=s.max_retries)

    @classmethod
    def configured(cls, settings: Settings, store: Store) -> LLM | None:
        return cls(settings, store) if settings.llm.base_url else None

    def ask(self, messages: list[dict[str, str]]) -> dict[str, Any]:
        """The JSON object the model answers ``messages`` with (from the cache when asked before)."""
        key = hashlib.sha256(json.dumps([self.settings.model, prompts.VERSION, messages]).encode()).hexdigest()
        cached = self.store.llm_cached(key)
        if cached is not None:
            return cached
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        calls, tokens = self.store.llm_usage(day)
        if calls >= self.settings.max_calls_per_day or tokens >= self.settings.max_tokens_per_day:
            raise LLMUnavailable(f"the daily LLM budget is spent ({calls} calls, {tokens} tokens today)")
        import openai

        try:
            response = self.client.chat.completions.create(model=self.settings.model, messages=messages,
                                                           temperature=0, response_format={"type": "json_object"})
        except openai.APITimeoutError:
            raise LLMUnavailable(f"no answer within {self.settings.timeout_seconds:g} s") from None
        except openai.APIStatusError as exc:
            raise LLMUnavailable(f"the endpoint answered HTTP {exc.status_code}") from None
        except openai.APIError as exc:
            raise LLMUnavailable(f"cannot reach the endpoint: {exc}") from None
        used = response.usage.total_tokens if response.usage else 0
        self.store.llm_count(day, used)
        content = (response.choices[0].message.content or "") if response.choices else ""
        try:
            answer = json.loads(FENCE.sub("", content.strip()))
        except json.JSONDecodeError:
            raise LLMUnavailable(f"the answer is not JSON: {content[:80]!r}") from None
        if not isinstance(answer, dict):
            raise LLMUnavailable("the answer is not a JSON object")
        self.store.llm_remember(key, answer)
        return answer
