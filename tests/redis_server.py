"""A real redis-server (Debian's package) on a free 127.0.0.1 port, its files in a temp folder; it keeps nothing
across a restart (no RDB, no AOF), as the harsher case for the daemon."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from tests.dovecot import free_port

REDIS = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """Start with ``start()``, stop with ``stop()``; ``start()`` again comes back on the same port, empty."""

    def __init__(self, root: Path) -> None:
        if not Path(REDIS).exists():
            raise RuntimeError("redis-server is not installed: `make system-deps` installs it with apt-get")
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen([REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                                      "--save", "", "--appendonly", "no", "--logfile", str(self.root / "redis.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                error = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"redis-server exited: {error}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start listening within 15 s")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None
