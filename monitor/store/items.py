"""The store's item reads: items by id prefix, by label, by recency with their embeddings (maps, search, the
taxonomy's sampling), and their titles and links."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from monitor.store.rows import (
    ItemDetail,
    ItemLabel,
    ItemRef,
    ItemText,
    LabelledItem,
    MapItem,
    item_ref,
    item_text_row,
    row_item,
)


class ItemRecords:
    """Mixed into ``Store``, whose ``db`` and ``_final_topic`` they use."""

    db: Any
    _final_topic: Callable[[], Callable[[int], int]]

    def find_items(self, prefix: str, limit: int = 2) -> list[ItemRef]:
        """Items whose id starts with ``prefix`` (ids are shown shortened)."""
        return [item_ref(r) for r in self.db.query("select id, title, url, source, topic_id from items where id like ? "
                                                   "order by id limit ?", [prefix + "%", limit])]

    def item_rows(self, ids: Sequence[str]) -> list[ItemText]:
        """Stored items by id, in the order given (fields an LLM may see)."""
        found = {r["id"]: item_text_row(r) for r in self.db.query(
            f"select id, title, text, author, source, url from items where id in ({','.join('?' * len(ids))})",
            list(ids))} if ids else {}
        return [found[i] for i in ids if i in found]

    def items_for_labelling(self, limit: int) -> tuple[list[str], list[str], np.ndarray]:
        """Ids, texts (what the models read) and embeddings of the newest ``limit`` enriched items."""
        rows = list(self.db.query("select * from items where state = 'done' and embedding is not null "
                                  "order by rowid desc limit ?", [limit]))
        if not rows:
            return [], [], np.zeros((0, 0), dtype=np.float32)
        return ([r["id"] for r in rows], [row_item(r).content for r in rows],
                np.stack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows]))

    def item_detail(self, item_id: str) -> ItemDetail:
        """An item's state, topics, stored embedding and labels."""
        row = next(self.db.query("select state, topic_id, embedding from items where id = ?", [item_id]))
        embedding = np.frombuffer(row["embedding"], dtype=np.float32) if row["embedding"] else None
        labels = tuple(ItemLabel(r["task"], r["label"], r["confidence"], r["model"]) for r in self.db.query(
            "select task, label, confidence, model from labels where item_id = ? order by task", [item_id]))
        topic_now = self._final_topic()(row["topic_id"]) if row["topic_id"] else None
        return ItemDetail(row["state"], row["topic_id"], topic_now, embedding, labels)

    def map_items(self, limit: int, task: str | None = None) -> tuple[list[MapItem], np.ndarray]:
        """The ``limit`` most recently stored enriched items (id, title, topic after merges, label of ``task``) and
        their embeddings; items embedded with another model (a different dimension) than the newest are left out."""
        final = self._final_topic()
        rows = list(self.db.query(
            "select items.id, items.title, items.topic_id, items.embedding, labels.label from items left join labels "
            "on labels.item_id = items.id and labels.task = ? where items.state = 'done' and items.embedding is not "
            "null order by items.stored_at desc, items.rowid desc limit ?", [task, limit]))
        rows = [r for r in rows if len(r["embedding"]) == len(rows[0]["embedding"])]
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        vectors = np.stack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows])
        return [MapItem(r["id"], r["title"] or "", final(r["topic_id"]) if r["topic_id"] else None, r["label"])
                for r in rows], vectors

    def embeddings(self) -> tuple[list[str], np.ndarray]:
        """Ids and stored embeddings of every enriched item (for semantic search)."""
        rows = list(self.db.query("select id, embedding from items where state = 'done' and embedding is not null"))
        if not rows:
            return [], np.zeros((0, 0), dtype=np.float32)
        return [r["id"] for r in rows], np.stack([np.frombuffer(r["embedding"], dtype=np.float32) for r in rows])

    def items_with_label(self, task: str | None, label: str | None, limit: int = 20) -> list[LabelledItem]:
        """The newest enriched items, optionally only those with ``label`` (in ``task`` if given)."""
        where: list[str] = ["items.state = 'done'"]
        args: list[str | int] = []
        if task or label:
            where.append("items.id in (select item_id from labels where "
                         + " and ".join(c for c, v in (("task = ?", task), ("label = ?", label)) if v) + ")")
            args.extend(v for v in (task, label) if v)
        sql = ("select items.id, items.title, items.url, items.source, items.topic_id, "
               "group_concat(labels.task || '=' || labels.label || ' ' || printf('%.2f', labels.confidence), "
               "', ') as labels from items left join labels on labels.item_id = items.id "
               f"where {' and '.join(where)} group by items.id order by items.rowid desc limit ?")
        return [LabelledItem(item_ref(r), r["labels"] or "") for r in self.db.query(sql, [*args, limit])]

    def links(self, ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """Each item's title and URL ('' when it has none)."""
        if not ids:
            return {}
        return {r["id"]: (r["title"] or "", r["url"] or "") for r in self.db.query(
            f"select id, title, url from items where id in ({','.join('?' * len(ids))})", list(ids))}

    def titles(self, ids: Sequence[str]) -> dict[str, str]:
        return {item: title for item, (title, _) in self.links(ids).items()}


def ask_embeddings(db: Any, task: str, rows: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """The stored embeddings of the candidate ``rows`` (rows of items) for an active-learning strategy that reads
    them, and those of the items people labelled in ``task``. An embedding of another dimension than the first
    candidate's (another model) is zeros among the candidates and left out of the labelled."""
    dims = len(rows[0]["embedding"] or b"") // 4 if rows else 0
    candidates = [np.frombuffer(r["embedding"] or b"", dtype=np.float32) for r in rows]
    labelled = [np.frombuffer(r["embedding"], dtype=np.float32) for r in db.query(
        "select items.embedding from labels join items on items.id = labels.item_id where labels.task = ? and "
        "labels.model = 'human' and items.embedding is not null", [task])]
    return (np.array([v if len(v) == dims else np.zeros(dims, np.float32) for v in candidates], np.float32),
            np.array([v for v in labelled if len(v) == dims], np.float32).reshape(-1, dims))
