"""The gate that promotes a model: a candidate serves only when it is not worse than the model in service on the
held-out set (within a tolerance) and does not lose on the live corrections."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from models.classifier import TaskSpec
from models.evaluation import report
from models.finetune import Example
from models.ladder import ZERO_SHOT, open_version
from models.registry import ModelLoadError, rung
from monitor.config.schema import Settings
from monitor.learning import candidates
from monitor.store.db import Store

log = logging.getLogger(__name__)


def decide(candidate: dict[str, Any], serving: dict[str, Any], cand_live: dict[str, Any], serv_live: dict[str, Any],
           tolerance: float, costlier: bool = False, basis: str = "held-out") -> tuple[bool, str]:
    """Whether a candidate replaces the model in service, and why, from their scores on the same sets (``basis``
    names them: ``held-out``, or ``cross-validated``). A candidate of a ``costlier`` rung than the one in service
    must win by more than the tolerance: a tie goes to the cheaper."""
    metric = f"{basis} {candidate['metric']}"
    c, s = candidate["score"], serving["score"]
    if costlier and c <= s + tolerance:
        return False, (f"{metric} {c:.3f} does not beat the cheaper model in service's {s:.3f} by more "
                       f"than the tolerance {tolerance:g}")
    if c < s - tolerance:
        return False, (f"{metric} {c:.3f} is below the model in service's {s:.3f} by more than the "
                       f"tolerance {tolerance:g}")
    if cand_live.get("n") and cand_live["accuracy"] < serv_live["accuracy"]:
        return False, (f"loses on the {cand_live['n']} live corrections: accuracy {cand_live['accuracy']:.3f} "
                       f"against {serv_live['accuracy']:.3f}")
    live = (f"; live corrections accuracy {cand_live['accuracy']:.3f} vs {serv_live['accuracy']:.3f}"
            if cand_live.get("n") else "")
    return True, f"{metric} {c:.3f} vs {s:.3f} for the model in service{live}"


def score_on(predict: Callable[[list[str]], list[str]], examples: list[Example], labels: list[str],
           metric: str) -> dict[str, Any]:
    texts = [e.text for e in examples]
    return report([e.label for e in examples], predict(texts) if texts else [], labels, metric)


def serving_candidate(store: Store, settings: Settings, task: TaskSpec, vectors: candidates.Vectors,
                      zero: candidates.Candidate) -> tuple[str, candidates.Candidate]:
    """The model in service for ``task``, as its version name and a candidate to score (zero-shot when none)."""
    row = store.serving().get(task.name)
    if row is None:
        return ZERO_SHOT, zero
    try:
        clf = open_version(task, row.path, f"v{row.version}", settings.model.embedding, device="cpu")
    except ModelLoadError as exc:
        log.warning("the model in service cannot be scored, so the candidate is compared with zero-shot: %s", exc)
        return ZERO_SHOT, zero

    def predict(texts: list[str]) -> list[str]:
        return [p.label for p in clf.predict(texts, vectors(texts))] if texts else []

    return clf.version, candidates.Candidate(rung(row.metrics), predict)
