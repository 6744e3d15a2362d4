"""A 2-D map of the stored items and their topics: a PNG (``charts``) and one self-contained HTML page with
an inline SVG scatter, where hovering a point shows the item's title and its topic or label.

``build`` reads the store and projects the embeddings (``models.projection``); ``html`` and ``write`` render it.
"""

from __future__ import annotations

import html as html_lib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from models.projection import PCA_DIMS, group_centres, project
from monitor.ingest.text import neutral
from monitor.reports import charts
from monitor.service import ServiceError
from monitor.store.db import Store

LARGEST = 20


@dataclass
class ItemMap:
    """Items placed in 2-D (``coords``) with their ``titles``, ``tags`` (topic, and label when a task is named: shown
    under the title on hover) and ``colors``; the ``legend`` (name -> colour); the largest topics' ``names`` placed at
    their members (text, x, y)."""

    title: str
    coords: np.ndarray
    titles: list[str]
    tags: list[str]
    colors: list[str]
    legend: dict[str, str]
    names: list[tuple[str, float, float]]


def build(store: Store, limit: int = 5000, color: str = "topic", task: str | None = None,
          say: Callable[[str], None] = print) -> ItemMap:
    """Project the ``limit`` newest items and colour them by topic (the 20 largest on the map get colours, the rest
    are grey) or by their label in ``task`` (which may be left out when only one task has labels)."""
    if color not in ("topic", "label"):
        raise ServiceError(f"cannot colour by `{color}`: expected topic or label")
    if limit < 1:
        raise ServiceError("expected --limit of at least 1")
    if color == "label" or task:
        tasks = store.label_tasks()
        if task is None and len(tasks) > 1:
            raise ServiceError(f"--color label needs --task: items have labels of several tasks ({', '.join(tasks)})")
        if task is None and not tasks:
            raise ServiceError("--color label: no item has a label yet")
        if task is not None and task not in tasks:
            raise ServiceError(f"no item has a label of task `{task}`; tasks with labels: {', '.join(tasks) or 'none'}")
        task = task or tasks[0]
    rows, vectors = store.map_items(limit, task)
    if not rows:
        raise ServiceError("no enriched items to map yet")
    say(f"projecting {len(rows)} items to 2-D ({'PCA' if len(rows) < PCA_DIMS else 'PCA and t-SNE'})...")
    coords = project(vectors)
    topics = [r.topic_id for r in rows]
    sizes = Counter(t for t in topics if t is not None)
    largest = [t for t, _ in sizes.most_common(LARGEST)]
    found = store.topic_names(sizes)
    names = {t: neutral(f"#{t} {found.get(t, '')}") for t in sizes}
    labels = [r.label or "unlabelled" for r in rows]
    tags = [names[t] if t is not None else "no topic" for t in topics]
    if task:
        tags = [f"{tag} · {task} = {label}" for tag, label in zip(tags, labels, strict=True)]
    centres = group_centres(coords, topics)
    placed = [(names[t], *centres[t]) for t in largest]
    if color == "label":
        counts = Counter(x for x in labels if x != "unlabelled")
        legend = dict(zip([x for x, _ in counts.most_common()], charts.palette(len(counts)), strict=True))
        colors = [legend.get(x, charts.GREY) for x in labels]
        title = f"{len(rows)} items by {task} label"
    else:
        by_topic = dict(zip(largest, charts.palette(len(largest)), strict=True))
        legend = {names[t]: c for t, c in by_topic.items()}
        colors = [charts.GREY if t is None else by_topic.get(t, charts.GREY) for t in topics]
        title = f"{len(rows)} items by topic"
    if charts.GREY in colors:
        legend["other" if color == "topic" else "unlabelled"] = charts.GREY
    return ItemMap(title, coords, [r.title for r in rows], tags, colors, legend, placed)


def html(m: ItemMap, width: int = 960, height: int = 680, margin: int = 20) -> str:
    """The map as one HTML page with no external scripts, styles or fonts; every text is made ``neutral`` and
    escaped."""
    e = html_lib.escape
    low, high = m.coords.min(axis=0), m.coords.max(axis=0)
    span = np.where(high - low > 0, high - low, 1.0)

    def xy(point: np.ndarray | tuple[float, float]) -> tuple[float, float]:
        x, y = (np.asarray(point) - low) / span
        return margin + x * (width - 2 * margin), height - margin - y * (height - 2 * margin)

    circles = "".join(
        '<circle cx="{:.1f}" cy="{:.1f}" r="4" fill="{}"><title>{}</title></circle>'.format(
            *xy(p), e(c), e(f"{neutral(t or '') or '(no title)'}\n{neutral(tag)}"))
        for p, t, tag, c in zip(m.coords, m.titles, m.tags, m.colors, strict=True))

    def label(text: str, x: float, y: float) -> str:
        """A topic's name at its place, anchored so that names near an edge stay inside the picture."""
        px, py = xy((x, y))
        anchor = "start" if px < width / 5 else "end" if px > width * 4 / 5 else "middle"
        return f'<text x="{px:.1f}" y="{py:.1f}" text-anchor="{anchor}">{e(neutral(text)[:40])}</text>'

    labels = "".join(label(*name) for name in m.names)
    legend = "".join(f'<li><span style="background:{e(c)}"></span>{e(neutral(name))}</li>'
                     for name, c in m.legend.items())
    return ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{e(m.title)}</title><style>"
            "body{font-family:sans-serif;margin:1.5em;display:flex;gap:1.5em;align-items:flex-start}"
            "svg{border:1px solid #ddd;background:#fff}circle{stroke:#fff;stroke-width:.5;opacity:.85}"
            "circle:hover{stroke:#000;stroke-width:1.5;opacity:1}"
            "text{font-size:11px;font-weight:bold;pointer-events:none;"
            "paint-order:stroke;stroke:#fff;stroke-width:3px}"
            "ul{list-style:none;padding:0;font-size:13px}li{margin:.2em 0}"
            "li span{display:inline-block;width:.9em;height:.9em;margin-right:.4em;vertical-align:middle}"
            f"</style></head><body><div><h1>{e(m.title)}</h1>"
            "<p>Hover over a point for its title; names mark where each of the largest topics' items sit.</p>"
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}">{circles}{labels}</svg></div>'
            f"<ul>{legend}</ul></body></html>")


def write(m: ItemMap, folder: Path) -> tuple[Path, Path]:
    """Write ``map.png`` and ``map.html`` into ``folder``; returns their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    png = charts.map_chart(folder / "map.png", m.coords, m.colors, m.legend, m.names, m.title)
    page = folder / "map.html"
    page.write_text(html(m), encoding="utf-8")
    return png, page
