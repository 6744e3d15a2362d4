"""Block Kit messages for alerts, within Slack's limits (3,000 characters a text, 50 blocks a message)."""

from __future__ import annotations

import json
from typing import Any

from bot.mrkdwn import clip, escape, fit, link, safe_url, shorten
from monitor.daemon.notify import Question
from monitor.enrich.alerts import Alert
from monitor.ingest.text import neutral
from monitor.reports.digest import Digest, sections

SNIPPET_CHARS = 500
TITLE_CHARS = 200
TEXT_LIMIT = 3000
FIELD_LIMIT = 2000


def fallback_text(alert: Alert) -> str:
    """The notification text (shown where blocks are not)."""
    return escape(f"[{alert.rule}] {shorten(alert.title or alert.snippet, TITLE_CHARS)}")


def actions(alert: Alert, tasks: dict[str, list[str]]) -> dict[str, Any]:
    """Buttons and menus under an alert: confirm the labels, pick the right label per task, mute the topic, open
    the item."""
    elements: list[dict[str, Any]] = []
    if alert.labels:
        elements.append({"type": "button", "action_id": "lookout_confirm", "style": "primary",
                         "text": {"type": "plain_text", "text": "Labels are right"},
                         "value": json.dumps({"i": alert.item_id})})
    for task, label, *_ in alert.labels[:3]:
        names = tasks.get(str(task), [])[:100]
        if names:
            elements.append({"type": "static_select", "action_id": f"lookout_relabel:{task}",
                             "placeholder": {"type": "plain_text", "text": shorten(f"{task}: not {label}?", 150)},
                             "options": [{"text": {"type": "plain_text", "text": shorten(n, 75)},
                                          "value": json.dumps({"i": alert.item_id, "t": task, "l": n})}
                                         for n in names]})
    elements.append({"type": "button", "action_id": "lookout_mute", "value": json.dumps({"t": alert.topic_id}),
                     "text": {"type": "plain_text", "text": "Mute topic"}})
    url = safe_url(alert.url)
    if url:
        elements.append({"type": "button", "action_id": "lookout_open", "url": url,
                         "text": {"type": "plain_text", "text": "Open"}})
    return {"type": "actions", "elements": elements}


def alert_blocks(alert: Alert, tasks: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    """An alert as Block Kit: title linked to the item, snippet, labels with confidence, topic keywords, and the
    actions that correct it."""
    title = link(alert.url, shorten(alert.title, TITLE_CHARS) or "(no title)")
    snippet = escape(shorten(alert.snippet, SNIPPET_CHARS))
    labels = "\n".join(f"*{escape(str(task))}*: {escape(str(label))} ({float(conf):.0%}{', unsure' if unsure else ''})"
                       for task, label, conf, unsure in alert.labels) or "none"
    keywords = escape(shorten(", ".join(alert.topic_keywords[:8]), 300)) or "no keywords yet"
    headline = f"*{title}*\n{fit(snippet, TEXT_LIMIT - len(title) - 4)}"
    size = f"{alert.topic_size} item{'' if alert.topic_size == 1 else 's'}"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": fit(f"*Labels*\n{labels}", FIELD_LIMIT)},
            {"type": "mrkdwn", "text": fit(f"*Topic #{alert.topic_id}* ({size})\n{keywords}", FIELD_LIMIT)},
        ]},
        actions(alert, tasks or {}),
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": fit(f":rotating_light: {escape(alert.rule)}: {escape(alert.reason)} · "
                                           f"from {escape(alert.source)} · item {escape(alert.item_id)}",
                                           TEXT_LIMIT)},
        ]},
    ]


def question_blocks(question: Question) -> list[dict[str, Any]]:
    """Active learning: each item the model was least sure of, with one button per label (an answer is a
    correction)."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": fit(
        f":thinking_face: *Which `{escape(question.task)}` label is right?* The model was least sure of these today; "
        "each answer becomes a correction for the next retrain.", TEXT_LIMIT)}}]
    for n, item in enumerate(question.items[:24]):
        title = link(item["url"], shorten(item["title"] or item["text"], TITLE_CHARS) or "(no title)")
        snippet = escape(shorten(item["text"], 300))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": fit(
            f"*{title}*\n{snippet}\n_model says {escape(item['label'])}, margin {item['margin']:.2f}_ · "
            f"item `{escape(item['item_id'][:10])}`", TEXT_LIMIT)}})
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": f"lookout_answer:{n}:{j}", "text": {"type": "plain_text",
                                                                                "text": shorten(label, 75)},
             "value": json.dumps({"i": item["item_id"], "t": question.task, "l": label})}
            for j, label in enumerate(question.labels[:25])]})
    return blocks[:50]


DIGEST_ICONS = {"Rising": ":chart_with_upwards_trend: ", "Fading": ":chart_with_downwards_trend: "}


def digest_blocks(d: Digest) -> list[dict[str, Any]]:
    """A trend digest as Block Kit: rising, fading and busiest topics, and the label counts against the period
    before (the chart follows as a file in the message's thread)."""
    def topic(tid: int, count: int, tail: str) -> str:
        name = f" {escape(shorten(d.names[tid], 80))}" if tid in d.names else ""
        words = escape(shorten(', '.join(d.keywords.get(tid, [])[:6]), 200)) or "no keywords"
        title, url = d.typical.get(tid, ("", ""))
        typical = f"\n      e.g. {link(url, shorten(title or url, 120) or 'untitled')}" if title or url else ""
        return f"*#{tid}{name}* ({count} items): {words}{tail}{typical}"

    def section(title: str, lines: list[str], empty: str) -> dict[str, Any]:
        body = "\n".join(f"• {line}" for line in lines) or f"_{empty}_"
        return {"type": "section", "text": {"type": "mrkdwn", "text": fit(f"*{title}*\n{body}", TEXT_LIMIT)}}

    labels = [f"{escape(task)} = {escape(label)}: {now} (before: {before})" for task, label, now, before in d.labels]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": shorten(d.title, 150)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{d.items} items, against {d.items_before} in "
                                                                    f"the {d.hours:g} hours before"}]},
        *(section(f"{DIGEST_ICONS.get(title, '')}{title}", [topic(*row) for row in rows], empty)
          for title, rows, empty in sections(d)),
        section("Labels", labels[:40], "no labels in this period"),
    ]


SHOWN_LABELS = 40


def taxonomy_blocks(proposal: dict[str, Any]) -> list[dict[str, Any]]:
    """A taxonomy proposal for review: each label with a menu (edit, drop, merge into another), then accept and
    discard buttons; once accepted or discarded, just the outcome."""
    pid, labels, status = proposal["id"], proposal["labels"], proposal["status"]
    head = {"type": "header", "text": {"type": "plain_text", "text": clip(
        f"Taxonomy proposal #{pid}: {len(labels)} labels" + ("" if status == "open" else f" ({status})"), 150)}}
    blocks: list[dict[str, Any]] = [head]
    for label in labels[:SHOWN_LABELS]:
        example = f"\n_e.g. {escape(shorten(label['examples'][0], 150))}_" if label.get("examples") else ""
        section: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": fit(
            f"*{escape(label['name'])}* ({label.get('size', 0)} items): {escape(label['description'])}{example}",
            TEXT_LIMIT)}}
        if status == "open":
            name = label["name"]
            section["accessory"] = {
                "type": "static_select", "action_id": "lookout_tax_label",
                "placeholder": {"type": "plain_text", "text": "Change…"},
                "options": [_option(pid, name, "Edit name or description", "edit"),
                            _option(pid, name, "Drop this label", "drop"),
                            *(_option(pid, name, f"Merge into {o['name']}", "merge", o["name"]) for o in labels
                              if o["name"] != name)][:100]}
        blocks.append(section)
    if len(labels) > SHOWN_LABELS:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": (
            f"{len(labels) - SHOWN_LABELS} more labels are not shown (a message holds {SHOWN_LABELS}); merge or "
            "drop some of these to bring the rest into view")}]})
    if status == "open":
        value = json.dumps({"p": pid})
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": "lookout_tax_accept", "style": "primary", "value": value,
             "text": {"type": "plain_text", "text": "Accept as a task…"}},
            {"type": "button", "action_id": "lookout_tax_discard", "style": "danger", "value": value,
             "text": {"type": "plain_text", "text": "Discard"}}]})
    elif proposal.get("task"):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Accepted as task "
                                                        f"`{escape(proposal['task'])}`"}]})
    return blocks


def _option(proposal_id: int, name: str, text: str, action: str, into: str = "") -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": shorten(text, 75)},
            "value": json.dumps({"p": proposal_id, "l": name, "a": action, "i": into})}


def _modal(callback: str, title: str, submit: str, metadata: dict[str, Any], inputs: list[dict[str, Any]]
           ) -> dict[str, Any]:
    return {"type": "modal", "callback_id": callback, "private_metadata": json.dumps(metadata),
            "title": {"type": "plain_text", "text": title}, "submit": {"type": "plain_text", "text": submit},
            "close": {"type": "plain_text", "text": "Cancel"}, "blocks": inputs}


def _input(block_id: str, label: str, initial: str, multiline: bool = False) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "plain_text_input", "action_id": "value", "multiline": multiline}
    if initial:
        element["initial_value"] = neutral(initial)
    return {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label},
            "element": element}


def edit_label_view(proposal_id: int, label: dict[str, Any]) -> dict[str, Any]:
    return _modal("lookout_tax_edit", "Edit label", "Save", {"p": proposal_id, "l": label["name"]},
                  [_input("name", "Name (lower-case, no spaces)", label["name"]),
                   _input("description", "Description", label["description"], multiline=True)])


def accept_view(proposal_id: int) -> dict[str, Any]:
    return _modal("lookout_tax_accept", "Accept taxonomy", "Create task", {"p": proposal_id},
                  [_input("task", "Name of the new task (lower-case, no spaces)", "")])
