"""Running the real ``lookout`` command in a subprocess, as a user would."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def env(**extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LOOKOUT_", "SLACK_"))}
    return {**base, "PYTHONUNBUFFERED": "1", "HF_HUB_OFFLINE": "1", **extra}


def lookout(*args: str, cwd: Path | None = None, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    """Run ``lookout ARGS`` to completion and capture its output."""
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=cwd or ROOT, env=env(**extra),
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def lookout_here(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str,
                 **extra: str) -> Result:
    """Run ``lookout ARGS`` through the same entry point in this process (no second torch import), with ``extra``
    as environment variables."""
    from bot.cli import main

    with monkeypatch.context() as m:
        for key in [k for k in os.environ if k.startswith(("LOOKOUT_", "SLACK_"))]:
            m.delenv(key)
        for key, value in extra.items():
            m.setenv(key, value)
        capsys.readouterr()
        code = main(list(args))
    out = capsys.readouterr()
    return Result(code, out.out, out.err)


async def start(*args: str, **extra: str) -> asyncio.subprocess.Process:
    """Start ``lookout ARGS`` without waiting (for servers in the test's own event loop to answer it)."""
    return await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", *args, cwd=ROOT, env=env(**extra),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
