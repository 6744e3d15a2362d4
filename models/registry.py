"""Model versions on disk: ``<root>/<task>/v<N>/`` holds the weights, tokenizer, labels and a ``meta.json``.

``meta.json`` is written last and records the training arguments, the data fingerprint, the metrics and a checksum
of the weights, so a folder without it is an unfinished run and a folder whose weights changed is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

META = "meta.json"
WEIGHTS = "model.safetensors"


class ModelLoadError(RuntimeError):
    """A model version is missing, unfinished or corrupt; the message names the folder and the problem."""


def version_dir(root: str | Path, task: str, version: int) -> Path:
    return Path(root) / task / f"v{version}"


def next_version(root: str | Path, task: str) -> int:
    """One more than the highest version folder of ``task`` (finished or not), starting at 1."""
    folder = Path(root) / task
    numbers = [int(m.group(1)) for p in folder.glob("v*") if (m := re.fullmatch(r"v(\d+)", p.name))]
    return max(numbers, default=0) + 1


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def save(folder: str | Path, model: Any, tokenizer: Any, meta: dict[str, Any]) -> Path:
    """Write a trained model and its metadata; ``meta.json`` last, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    meta = {**meta, "sha256": _sha256(folder / WEIGHTS)}
    tmp = folder / (META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str))
    os.replace(tmp, folder / META)
    return folder


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The metadata of a finished version; ``ModelLoadError`` if there is none."""
    path = Path(folder) / META
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{folder}: no {META} (the folder is missing or its training never finished)") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: unreadable ({exc})") from exc


def load(folder: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """Model, tokenizer and metadata of a version, after checking the weights against the recorded checksum."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = Path(folder)
    meta = read_meta(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ModelLoadError(f"{folder}: {WEIGHTS} is missing")
    if _sha256(weights) != meta.get("sha256"):
        raise ModelLoadError(f"{folder}: {WEIGHTS} does not match the checksum in {META} (corrupt or changed)")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{folder}: cannot be loaded ({exc})") from exc
    model.eval()
    return model, tokenizer, meta
