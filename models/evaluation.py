"""Scores of a classifier on a labelled set: accuracy, macro precision/recall/F1, per label, confusion matrix.

A task may name its own metric: ``accuracy``, ``macro_f1``, ``macro_recall`` or ``f1:<label>`` (the F1 of one
label, as TweetEval scores irony).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

METRICS = ("accuracy", "macro_f1", "macro_recall")


def check_metric(metric: str, labels: Sequence[str]) -> None:
    """Raise ``ValueError`` unless ``metric`` can be computed for a task with ``labels``."""
    if metric in METRICS:
        return
    if metric.startswith("f1:") and metric[3:] in labels:
        return
    raise ValueError(f"metric {metric!r}: expected one of {', '.join(METRICS)} or f1:<label> with a label of the "
                     f"task ({', '.join(labels)})")


def score(metric: str, y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> float:
    """One number for ``metric`` (0-1); 0 for an empty set."""
    if not y_true:
        return 0.0
    if metric == "accuracy":
        return float(accuracy_score(y_true, y_pred))
    if metric == "macro_recall":
        return float(precision_recall_fscore_support(y_true, y_pred, labels=list(labels), average="macro",
                                                     zero_division=0)[1])
    if metric.startswith("f1:"):
        return float(f1_score(y_true, y_pred, labels=[metric[3:]], average="macro", zero_division=0))
    return float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0))


def report(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], metric: str = "macro_f1"
           ) -> dict[str, Any]:
    """Every figure Lookout keeps for a model on one set, as plain JSON-ready values."""
    labels = list(labels)
    if not y_true:
        return {"n": 0, "metric": metric, "score": 0.0}
    p, r, f, support = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": len(y_true),
        "metric": metric,
        "score": round(score(metric, y_true, y_pred, labels), 4),
        "accuracy": round(float(accuracy_score(y_true, y_pred)), 4),
        "macro_precision": round(float(np.mean(p)), 4),
        "macro_recall": round(float(np.mean(r)), 4),
        "macro_f1": round(float(np.mean(f)), 4),
        "per_label": {name: {"precision": round(float(p[i]), 4), "recall": round(float(r[i]), 4),
                             "f1": round(float(f[i]), 4), "support": int(support[i])}
                      for i, name in enumerate(labels)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "labels": labels,
    }


def confusion_png(path: str | Path, matrix: Sequence[Sequence[int]], labels: Sequence[str], title: str) -> Path:
    """Draw a confusion matrix (rows: true label, columns: predicted) with counts in the cells."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix)
    size = max(3.5, 0.6 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size, size * 0.85), dpi=110)
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    top = m.max() if m.size else 0
    for (i, j), n in np.ndenumerate(m):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > top / 2 else "black")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
