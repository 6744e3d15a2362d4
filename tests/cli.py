"""Running the real ``lookout`` command in a subprocess, as a user would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LOOKOUT_", "SLACK_"))}
    return {**base, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **extra}


def lookout(*args: str, cwd: Path | None = None, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    """Run ``lookout ARGS`` to completion and capture its output."""
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd or ROOT, env=env(**extra),
                          capture_output=True, text=True, timeout=timeout)


async def start(*args: str, **extra: str) -> asyncio.subprocess.Process:
    """Start ``lookout ARGS`` without waiting (for servers in the test's own event loop to answer it)."""
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, cwd=ROOT, env=env(**extra),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
