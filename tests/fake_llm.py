"""A fake OpenAI-compatible chat-completions server on 127.0.0.1, scripted request by request."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.servers import serve

Answer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass
class FakeLLM:
    """A local server speaking the OpenAI chat-completions wire format. ``script`` says what the next requests
    get: ``"ok"`` (the JSON ``answer`` builds from the request's payload), ``"429"``, ``"timeout"`` (an answer
    after ``delay`` seconds) or ``"malformed"`` (prose instead of JSON); an empty script means ``"ok"``."""

    answer: Answer
    script: list[str] = field(default_factory=list)
    delay: float = 2.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @staticmethod
    def payload(request: dict[str, Any]) -> dict[str, Any]:
        """The JSON part of a request's last user message (what Lookout's prompts put after a blank line)."""
        return json.loads(request["messages"][-1]["content"].rsplit("\n\n", 1)[1])

    async def _completions(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != "Bearer test-key":
            return web.json_response({"error": {"message": "bad key", "type": "invalid_request_error"}}, status=401)
        body = await request.json()
        self.requests.append(body)
        step = self.script.pop(0) if self.script else "ok"
        if step == "429":
            return web.json_response({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                                     status=429, headers={"Retry-After": "0"})
        if step == "timeout":
            await asyncio.sleep(self.delay)
        content = "Sure! Here are your labels." if step == "malformed" else json.dumps(self.answer(body))
        return web.json_response({
            "id": f"chatcmpl-{len(self.requests)}", "object": "chat.completion", "created": 1_700_000_000,
            "model": body["model"], "choices": [{"index": 0, "finish_reason": "stop",
                                                 "message": {"role": "assistant", "content": content}}],
            "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}})

    async def start(self) -> FakeLLM:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._completions)
        self._runner, self.port = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
