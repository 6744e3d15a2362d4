"""Model versions on disk: ``<root>/<task>/v<N>/`` holds the weights, labels and a ``meta.json``.

A version is of one rung of the ladder (``meta["rung"]``): a fine-tuned transformer (weights and tokenizer), a
head on the sentence embedding (``head.npz``), or a tuned sentence encoder with its head (``encoder/`` and
``head.npz``). ``meta.json`` is written last and records the training arguments,
the data fingerprint, the metrics and a checksum of the weights, so a folder without it is an unfinished run and a
folder whose weights changed is refused.
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
HEAD = "head.npz"
FINETUNED = "fine-tuned"
EMBEDDING_HEAD = "head"
SETFIT = "setfit"
SETFIT_ENCODER = "encoder"


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


def _finish(folder: Path, meta: dict[str, Any], rung: str, weights: str, more: tuple[str, ...] = ()) -> Path:
    meta = {**meta, "rung": rung, "weights": weights, "sha256": _sha256(folder / weights),
            **({"more_weights": {name: _sha256(folder / name) for name in more}} if more else {})}
    tmp = folder / (META + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2, default=str))
    os.replace(tmp, folder / META)
    return folder


def save(folder: str | Path, model: Any, tokenizer: Any, meta: dict[str, Any]) -> Path:
    """Write a fine-tuned model and its metadata; ``meta.json`` last, atomically."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return _finish(folder, meta, FINETUNED, WEIGHTS)


def save_head(folder: str | Path, head: Any, meta: dict[str, Any]) -> Path:
    """Write a head on the embedding (anything with ``save(path)``) and its metadata; ``meta.json`` last."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    head.save(folder / HEAD)
    return _finish(folder, meta, EMBEDDING_HEAD, HEAD)


def save_setfit(folder: str | Path, encoder: Any, head: Any, meta: dict[str, Any]) -> Path:
    """Write a tuned sentence encoder (a sentence-transformers model) in ``encoder/`` and its head, then
    ``meta.json``; the checksums cover the head and the encoder's weights."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    encoder.save(str(folder / SETFIT_ENCODER))
    head.save(folder / HEAD)
    return _finish(folder, meta, SETFIT, HEAD, (f"{SETFIT_ENCODER}/{WEIGHTS}",))


def rung(meta: dict[str, Any]) -> str:
    """The ladder rung of a version (versions saved before the ladder are fine-tuned)."""
    return str(meta.get("rung", FINETUNED))


def read_meta(folder: str | Path) -> dict[str, Any]:
    """The metadata of a finished version; ``ModelLoadError`` if there is none."""
    path = Path(folder) / META
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{folder}: no {META} (the folder is missing or its training never finished)") from exc
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"{path}: unreadable ({exc})") from exc


def checked_meta(folder: str | Path) -> dict[str, Any]:
    """The metadata of a version whose weights match the recorded checksum; ``ModelLoadError`` otherwise."""
    folder = Path(folder)
    meta = read_meta(folder)
    expected = {str(meta.get("weights", WEIGHTS)): meta.get("sha256"), **meta.get("more_weights", {})}
    for name, sha in expected.items():
        weights = folder / name
        if not weights.is_file():
            raise ModelLoadError(f"{folder}: {name} is missing")
        if _sha256(weights) != sha:
            raise ModelLoadError(f"{folder}: {name} does not match the checksum in {META} (corrupt or changed)")
    return meta


def load(folder: str | Path) -> tuple[Any, Any, dict[str, Any]]:
    """Model, tokenizer and metadata of a fine-tuned version, after checking the weights against the checksum."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    folder = Path(folder)
    meta = checked_meta(folder)
    if rung(meta) != FINETUNED:
        raise ModelLoadError(f"{folder}: a {rung(meta)} version, not a fine-tuned transformer")
    try:
        model = AutoModelForSequenceClassification.from_pretrained(folder)
        tokenizer = AutoTokenizer.from_pretrained(folder)
    except (OSError, ValueError, RuntimeError) as exc:
        raise ModelLoadError(f"{folder}: cannot be loaded ({exc})") from exc
    model.eval()
    return model, tokenizer, meta
