"""Every prompt Lookout sends to a language model, in one place and versioned: a changed prompt gets a new
``VERSION``, which is part of the cache key, so answers to an old prompt are never reused for a new one.

Each function returns chat-completions ``messages`` asking for one JSON object, in the spirit of TnT-LLM: the
taxonomy is refined batch by batch from samples of items, then items are labelled with a stated confidence.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

VERSION = "tnt-2026-11-1"

SYSTEM = ("You organise a stream of short texts (news, posts, emails) for a team. You answer with one JSON object "
          "and nothing else.")


def _messages(user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def refine(labels: Sequence[dict[str, Any]], samples: dict[int, list[str]], size: int) -> list[dict[str, str]]:
    """Phase 1, one batch: name and describe each candidate label from samples of its items, and say which
    candidates mean the same thing (merge) or are noise (drop), aiming at about ``size`` labels."""
    candidates = [{"id": i, "name": x["name"], "description": x["description"], "samples": samples.get(i, [])}
                  for i, x in enumerate(labels)]
    return _messages(
        "Here is a draft taxonomy for classifying the stream: candidate labels, each with samples of its items.\n"
        f"Improve it so that about {size} clear, distinct, useful labels remain:\n"
        "- give each label a short lower-case name (letters, digits and hyphens, at most 30 characters) and a "
        "one-sentence description of what belongs in it;\n"
        "- if two candidates mean the same thing, set `merge_into` of one to the id of the other;\n"
        "- if a candidate is noise or not a coherent theme, set `drop` to true.\n"
        'Answer as {"labels": [{"id": 0, "name": "...", "description": "...", "merge_into": null, '
        '"drop": false}, ...]} with one entry per candidate id.\n\n'
        + json.dumps({"candidates": candidates}, ensure_ascii=False))


def label(labels: Sequence[dict[str, Any]], items: Sequence[str]) -> list[dict[str, str]]:
    """Phase 2: assign each item one label of the taxonomy, with a confidence between 0 and 1."""
    return _messages(
        "Assign each item exactly one label from the taxonomy, and say how confident you are (0 to 1).\n"
        'Answer as {"labels": [{"item": 0, "label": "<name>", "confidence": 0.9}, ...]} with one entry per item.\n\n'
        + json.dumps({"taxonomy": [{"name": x["name"], "description": x["description"]} for x in labels],
                      "items": [{"item": i, "text": t} for i, t in enumerate(items)]}, ensure_ascii=False))
