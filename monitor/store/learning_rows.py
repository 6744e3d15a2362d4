"""The records the store's learning queries return: training examples, training runs, model versions, the items put
to the team as questions, and hyper-parameter searches with their trials. JSON columns (a run's progress, a version's
metrics, a trial's parameters) stay documents: ``dict`` fields."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ImportedExample:
    """A labelled text imported for a task; ``split`` is the split it was imported into ("" when none)."""

    text: str
    label: str
    split: str
    source: str


@dataclass(frozen=True)
class CorrectedItem:
    """A correction of an item's label, with the text the models read and when it was made."""

    item_id: str
    label: str
    created_at: float
    text: str


@dataclass(frozen=True)
class PseudoLabel:
    """A label a model gave an item with high confidence, used as a training example."""

    label: str
    text: str


@dataclass(frozen=True)
class Run:
    """A training run: asked ``via`` a path (cli, slack, taxonomy, ...) by ``requested_by``; ``notes`` are the lines
    for the people following it (``notes_sent`` of them relayed to ``channel``/``thread``), ``progress`` how far it
    is (a document), ``message`` how it ended (None until it has)."""

    id: int
    task: str
    status: str
    via: str
    requested_by: str
    channel: str
    thread: str
    version: int | None
    pid: int | None
    progress: dict[str, Any]
    notes: tuple[str, ...]
    notes_sent: int
    message: str | None
    created_at: float
    started_at: float | None
    finished_at: float | None


def run_row(r: dict[str, Any]) -> Run:
    return Run(r["id"], r["task"], r["status"], r["via"] or "", r["requested_by"] or "", r["channel"] or "",
               r["thread"] or "", r["version"], r["pid"], json.loads(r["progress"] or "{}"),
               tuple(json.loads(r["notes"] or "[]")), r["notes_sent"] or 0, r["message"], r["created_at"],
               r["started_at"], r["finished_at"])


@dataclass(frozen=True)
class Version:
    """A registered model version of a task: its folder, status (serving, retired, rejected, broken, ...), whether it
    is quantised, the scores its run measured (``metrics``, a document) and why it has its status."""

    task: str
    version: int
    path: str
    status: str
    int8: bool
    metrics: dict[str, Any]
    reason: str
    run_id: int | None
    created_at: float
    promoted_at: float | None


def version_row(r: dict[str, Any]) -> Version:
    return Version(r["task"], r["version"], r["path"], r["status"], bool(r["int8"]), json.loads(r["metrics"] or "{}"),
                   r["reason"] or "", r["run_id"], r["created_at"], r["promoted_at"])


@dataclass(frozen=True)
class UnsureItem:
    """An item a model was unsure of, to put to the team: the label it gave, the margin between its top two labels
    and the topic the item lives on in now."""

    item_id: str
    title: str
    text: str
    url: str
    label: str
    margin: float
    topic_id: int


@dataclass(frozen=True)
class Trial:
    """One trial of a hyper-parameter search: the parameters it tried (a document), its score (None when it had
    none), how it ended and how long it took."""

    number: int
    params: dict[str, Any]
    score: float | None
    state: str
    seconds: float


@dataclass(frozen=True)
class Search:
    """A hyper-parameter search of a task: the sizes of the data it ran on (``data``), the best trial and its
    parameters (None until it is done) and every trial, in order."""

    id: int
    task: str
    metric: str
    n_trials: int
    status: str
    data: dict[str, int]
    best_trial: int | None
    best_params: dict[str, Any] | None
    best_score: float | None
    message: str | None
    created_at: float
    finished_at: float | None
    trials: tuple[Trial, ...]


def search_row(r: dict[str, Any], trials: list[dict[str, Any]]) -> Search:
    return Search(r["id"], r["task"], r["metric"], r["n_trials"], r["status"], json.loads(r["data"] or "{}"),
                  r["best_trial"], json.loads(r["best_params"] or "null"), r["best_score"], r["message"],
                  r["created_at"], r["finished_at"],
                  tuple(Trial(t["number"], json.loads(t["params"]), t["score"], t["state"], t["seconds"])
                        for t in trials))
