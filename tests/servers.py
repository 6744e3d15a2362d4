"""What the tests' real servers on 127.0.0.1 share: serving an aiohttp app on a free port, waiting for what a
server records, and the committed sample rows they serve. The servers: ``tests.feed_server``, ``tests.fake_slack``,
``tests.fake_llm``."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web

SAMPLE = Path(__file__).resolve().parent.parent / "monitor" / "demo" / "spamassassin_sample.jsonl"


async def wait_for(check: Callable[[], object], seconds: float = 10.0) -> None:
    """Poll ``check`` every 50 ms until it is truthy; fail the test after ``seconds``."""
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not reached in {seconds:g} s")


async def serve(app: web.Application) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on a free port of 127.0.0.1; return its runner (for cleanup) and the port."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]


def sample_rows(n: int, start: int = 0, label: str | None = None) -> list[dict[str, Any]]:
    """Rows of the committed SpamAssassin sample (real text)."""
    rows = [json.loads(line) for line in SAMPLE.open(encoding="utf-8")]
    if label:
        rows = [r for r in rows if r["label"] == label]
    return rows[start:start + n]
