"""Start-up time of the `lookout` command (run on demand).

Wall time, best of ``--repeat`` runs, of ``lookout --help`` and two read-only commands, next to two references
measured in the same run: a bare ``python -c pass`` and ``python -c "import torch, transformers, sklearn"`` (what
every command paid before the command line imported the heavy modules only where they are used).

    .venv/bin/python bench/startup.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def best(cmd: list[str], repeat: int) -> float:
    """The shortest wall time of ``repeat`` runs of ``cmd``, in seconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(cmd, cwd=ROOT, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "empty.db")
        subprocess.run([sys.executable, "-m", "bot.cli", "status", "--db", db], cwd=ROOT, capture_output=True)
        rows = [("python -c pass (reference)", [sys.executable, "-c", "pass"]),
                ("import torch, transformers, sklearn (reference)",
                 [sys.executable, "-c", "import torch, transformers, sklearn"]),
                ("lookout --help", [sys.executable, "-m", "bot.cli", "--help"]),
                ("lookout settings", [sys.executable, "-m", "bot.cli", "settings"]),
                ("lookout status (empty store)", [sys.executable, "-m", "bot.cli", "status", "--db", db])]
        for name, cmd in rows:
            print(f"{name:50} {best(cmd, args.repeat):6.2f} s", flush=True)


if __name__ == "__main__":
    main()
