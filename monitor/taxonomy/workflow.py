"""From an unlabelled stream to a task: propose a label taxonomy from the stored topics, let the team review it,
and accept it as a classification task whose first classifier is trained on automatic labels (TnT-LLM's two
phases; without a language model the labels come from the topic centres, see ``models.taxonomy``).

A proposal lives in the store while it is reviewed (edited in a TOML file, or with buttons in Slack). Accepting it
stores the task (config tasks and stored tasks together make the tasks in service, ``with_stored_tasks``), labels
a sample of stored items by the nearest label centre, keeps the confident ones as training examples of source
``taxonomy`` (the team's corrections outrank them), and leaves training to the learning loop.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import tomllib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from models import taxonomy as tx
from monitor.config.schema import LabelSettings, Settings, TaskSettings
from monitor.ingest.text import neutral
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.taxonomy import prompts
from monitor.taxonomy.llm import LLM, LLMUnavailable, item_text

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
log = logging.getLogger(__name__)


def with_stored_tasks(settings: Settings, store: Store) -> Settings:
    """``settings`` with the tasks accepted at run time added after the configured ones."""
    configured = {t.name for t in settings.tasks}
    extra = tuple(TaskSettings(name=t["name"], labels=tuple(LabelSettings(x["name"], x["description"])
                                                             for x in t["labels"]), metric=t["metric"])
                  for t in store.stored_tasks() if t["name"] not in configured)
    return dataclasses.replace(settings, tasks=settings.tasks + extra) if extra else settings


def propose(store: Store, settings: Settings, size: int, user: str, since: float = 0.0,
            channel: str = "") -> dict[str, Any]:
    """Propose ``size`` labels from the topics seen since ``since``; the stored proposal."""
    if not 2 <= size <= 50:
        raise ServiceError(f"a taxonomy needs between 2 and 50 labels, not {size}")
    topics = [tx.TopicSummary(t.id, t.size, t.vector_sum / (np.linalg.norm(t.vector_sum) or 1.0), t.terms,
                              list(t.examples)) for t in store.topic_summaries(since)]
    try:
        labels = tx.propose(topics, size, min_topic_size=settings.topics.min_size)
    except ValueError as exc:
        raise ServiceError(f"not enough to propose labels from yet: {exc}") from None
    rows = [{"name": x.name, "description": x.description, "topics": x.topics, "size": x.size,
             "keywords": x.keywords, "examples": x.examples} for x in labels]
    method = "topics"
    llm = LLM.configured(settings, store)
    if llm is not None:
        rows, refined = refine_with_llm(llm, store, settings, rows, size)
        method = f"topics + LLM ({refined} of {settings.llm.batches} batches)" if refined else method
    proposal_id = store.add_proposal(rows, size, method, user, channel)
    found = store.proposal(proposal_id)
    assert found is not None
    return found


def refine_with_llm(llm: LLM, store: Store, settings: Settings, rows: list[dict[str, Any]], size: int
                    ) -> tuple[list[dict[str, Any]], int]:
    """TnT-LLM's taxonomy loop over ``llm.batches`` batches of sample items: the LLM names and describes each
    candidate from its items, merges the ones that mean the same and drops noise. Returns the labels and how many
    batches it refined; when the LLM fails, what was refined so far is kept and the reason is logged."""
    s = settings.llm
    for batch in range(s.batches):
        per_label = max(1, s.batch_size // max(len(rows), 1))
        samples = {i: [item_text(r, s.fields, s.max_chars) for r in
                       store.topic_samples(x["topics"], per_label, batch * per_label)] for i, x in enumerate(rows)}
        try:
            answer = llm.ask(prompts.refine(rows, samples, size))
            rows = _apply_refinement(rows, answer)
        except LLMUnavailable as exc:
            log.warning("LLM unavailable (%s); the proposal keeps the names from the topics' keywords%s", exc,
                        f" and {batch} refined batches" if batch else "")
            return rows, batch
    return rows, s.batches


def _apply_refinement(rows: list[dict[str, Any]], answer: dict[str, Any]) -> list[dict[str, Any]]:
    entries = answer.get("labels")
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("id"), int)
                                                and 0 <= e["id"] < len(rows) for e in entries):
        raise LLMUnavailable("the answer does not list the candidates by id as asked")
    rows = [dict(x) for x in rows]
    taken: set[str] = set()
    for entry in sorted(entries, key=lambda e: e["id"]):
        row = rows[entry["id"]]
        name = str(entry.get("name") or "").strip().lower()
        row["name"] = name if NAME.match(name) and name not in taken else \
            tx.slug([*re.split(r"\W+", name), *row["keywords"]], taken)
        taken.add(row["name"])
        row["description"] = str(entry.get("description") or row["description"]).strip()[:300]
    gone: set[int] = set()
    for entry in entries:
        into = entry.get("merge_into")
        if entry.get("drop") is True:
            gone.add(entry["id"])
        elif isinstance(into, int) and 0 <= into < len(rows) and into != entry["id"] and into not in gone:
            _fold(rows[entry["id"]], rows[into])
            gone.add(entry["id"])
    kept = [x for i, x in enumerate(rows) if i not in gone]
    if len(kept) < 2:
        raise LLMUnavailable("the answer would leave fewer than two labels")
    return kept


def _fold(gone: dict[str, Any], keep: dict[str, Any]) -> None:
    """Merge label ``gone`` into ``keep``: its topics, its size and (up to three) examples."""
    keep.update(topics=keep["topics"] + gone["topics"], size=keep.get("size", 0) + gone.get("size", 0),
                examples=(keep.get("examples", []) + gone.get("examples", []))[:3])


def open_proposal(store: Store, proposal_id: int) -> dict[str, Any]:
    found = store.proposal(proposal_id)
    if found is None:
        raise ServiceError(f"there is no taxonomy proposal #{proposal_id}")
    if found["status"] != "open":
        raise ServiceError(f"proposal #{proposal_id} is {found['status']} already")
    return found


def to_toml(proposal: dict[str, Any]) -> str:
    """The proposal as a TOML file to review and edit, then accept with ``lookout taxonomy accept``."""
    def q(value: str) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = [f"# Lookout taxonomy proposal #{proposal['id']}: {len(proposal['labels'])} labels from the stored topics.",
             "# Edit a name or description; delete a [[labels]] block to drop a label; give two labels the same",
             "# name to merge them. `examples` and `keywords` are for reading. Then:",
             "#   lookout taxonomy accept THIS-FILE --task NAME", "",
             f"proposal = {proposal['id']}", ""]
    for label in proposal["labels"]:
        lines += ["[[labels]]", f"name = {q(label['name'])}", f"description = {q(label['description'])}",
                  f"topics = [{', '.join(str(t) for t in label['topics'])}]",
                  f"# {label['size']} items; keywords: {neutral(', '.join(label['keywords']))}"]
        lines += [f"# e.g. {neutral(e)[:100]}" for e in label["examples"]]
        lines.append("")
    return "\n".join(lines)


def from_toml(text: str) -> tuple[int, list[dict[str, Any]]]:
    """(proposal id, labels) from an edited proposal file; labels sharing a name are merged."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ServiceError(f"the proposal file is not valid TOML: {exc}") from None
    if not isinstance(data.get("proposal"), int) or not isinstance(data.get("labels"), list):
        raise ServiceError("the proposal file needs `proposal = <number>` and [[labels]] blocks")
    labels: dict[str, dict[str, Any]] = {}
    for i, raw in enumerate(data["labels"]):
        name, topics = raw.get("name"), raw.get("topics")
        if not isinstance(name, str) or not isinstance(topics, list) or not all(isinstance(t, int) for t in topics):
            raise ServiceError(f"labels[{i}]: needs a `name` and a list of topic numbers in `topics`")
        held = labels.setdefault(name, {"name": name, "description": str(raw.get("description", "")), "topics": []})
        held["topics"] += [t for t in topics if t not in held["topics"]]
    return data["proposal"], list(labels.values())


def drop(store: Store, proposal_id: int, name: str) -> dict[str, Any]:
    found = open_proposal(store, proposal_id)
    store.update_proposal(proposal_id, labels=[x for x in found["labels"] if x["name"] != name])
    return open_proposal(store, proposal_id)


def merge(store: Store, proposal_id: int, name: str, into: str) -> dict[str, Any]:
    """Merge label ``name`` into label ``into``."""
    found = open_proposal(store, proposal_id)
    by_name = {x["name"]: x for x in found["labels"]}
    if name not in by_name or into not in by_name or name == into:
        raise ServiceError(f"cannot merge `{name}` into `{into}`: both must be labels of proposal #{proposal_id}")
    _fold(by_name.pop(name), by_name[into])
    store.update_proposal(proposal_id, labels=list(by_name.values()))
    return open_proposal(store, proposal_id)


def edit(store: Store, proposal_id: int, name: str, new_name: str, description: str) -> dict[str, Any]:
    found = open_proposal(store, proposal_id)
    check_name(new_name)
    if new_name != name and any(x["name"] == new_name for x in found["labels"]):
        raise ServiceError(f"proposal #{proposal_id} has a label `{new_name}` already; merge them instead")
    for label in found["labels"]:
        if label["name"] == name:
            label.update(name=new_name, description=description.strip() or label["description"])
    store.update_proposal(proposal_id, labels=found["labels"])
    return open_proposal(store, proposal_id)


def discard(store: Store, proposal_id: int) -> dict[str, Any]:
    open_proposal(store, proposal_id)
    store.update_proposal(proposal_id, status="discarded")
    found = store.proposal(proposal_id)
    assert found is not None
    return found


def check_name(name: str) -> None:
    """Refuse a label or task name that Slack values and `/lookout label` cannot carry as it is."""
    if not NAME.match(name):
        raise ServiceError(f"`{name}` cannot be a label or task name: use lower-case letters, digits, - and _ "
                           "(up to 40, no spaces)")


@dataclass
class Accepted:
    """What accepting a proposal did."""

    task: str
    labels: list[str]
    labelled: int
    kept: int
    per_label: dict[str, int]
    by_llm: int = 0


def accept(store: Store, settings: Settings, proposal_id: int, labels: list[dict[str, Any]] | None, task: str,
           user: str) -> Accepted:
    """Create task ``task`` from the proposal (or from ``labels`` edited out of it) and label stored items for it."""
    found = open_proposal(store, proposal_id)
    labels = found["labels"] if labels is None else labels
    check_name(task)
    if task in {t.name for t in with_stored_tasks(settings, store).tasks}:
        raise ServiceError(f"there is a task `{task}` already; choose another name")
    names = [x["name"] for x in labels]
    if len(names) < 2:
        raise ServiceError("a task needs at least two labels")
    for name in names:
        check_name(name)
    topic_ids, unit_centres, sizes = store.topic_centres()
    weighted = {tid: unit_centres[i] * sizes[i] for i, tid in enumerate(topic_ids)}
    centres = []
    for label in labels:
        missing = [t for t in label["topics"] if t not in weighted]
        if missing or not label["topics"]:
            raise ServiceError(f"label `{label['name']}`: topics {missing or '(none)'} are gone (merged or forgotten); "
                               "propose again")
        centre = np.sum([weighted[t] for t in label["topics"]], axis=0)
        centres.append(centre / (np.linalg.norm(centre) or 1.0))
    t = settings.taxonomy
    ids, texts, embeddings = store.items_for_labelling(t.sample)
    llm = LLM.configured(settings, store)
    by_llm = label_with_llm(llm, store, settings, labels, ids[: t.llm_sample]) if llm and ids else {}
    rows: list[tuple[str, str, str]] = []
    if ids:
        picked, confidence = tx.assign(embeddings, np.stack(centres).astype(np.float32), t.temperature)
        for i, item_id in enumerate(ids):
            label, sure = by_llm.get(item_id, (names[picked[i]], float(confidence[i])))
            if sure >= t.min_confidence:
                rows.append((item_id, texts[i], label))
    store.save_task(task, [{"name": x["name"], "description": x["description"]} for x in labels], "macro_f1",
                    f"taxonomy #{proposal_id}", user)
    store.import_auto_labels(task, [r for r in rows if r[0] in by_llm], "taxonomy-llm")
    store.import_auto_labels(task, [r for r in rows if r[0] not in by_llm], "taxonomy")
    store.update_proposal(proposal_id, status="accepted", task=task, labels=labels)
    return Accepted(task, names, len(ids), len(rows), dict(Counter(label for _, _, label in rows)),
                    sum(1 for r in rows if r[0] in by_llm))


def label_with_llm(llm: LLM, store: Store, settings: Settings, labels: list[dict[str, Any]], ids: list[str]
                   ) -> dict[str, tuple[str, float]]:
    """TnT-LLM's labelling phase: ``item id -> (label, stated confidence)`` for ``ids``, in batches. Items the LLM
    could not label (it failed, or answered a label that does not exist) are left to the embeddings."""
    s, names = settings.llm, {x["name"] for x in labels}
    found: dict[str, tuple[str, float]] = {}
    for start in range(0, len(ids), s.batch_size):
        rows = store.item_rows(ids[start:start + s.batch_size])
        try:
            answer = llm.ask(prompts.label(labels, [item_text(r, s.fields, s.max_chars) for r in rows]))
            entries = answer.get("labels")
            if not isinstance(entries, list):
                raise LLMUnavailable("the answer has no `labels` list")
        except LLMUnavailable as exc:
            log.warning("LLM unavailable (%s); %d items were labelled by it, the rest are labelled by the "
                        "embeddings", exc, len(found))
            break
        for e in entries:
            if isinstance(e, dict) and isinstance(e.get("item"), int) and 0 <= e["item"] < len(rows) \
                    and e.get("label") in names and isinstance(e.get("confidence"), int | float):
                found[rows[e["item"]].id] = (e["label"], min(max(float(e["confidence"]), 0.0), 1.0))
    return found
