"""Block Kit messages for alerts, digests, questions and taxonomies, within Slack's limits (3,000 characters a text,
50 blocks a message, 150 characters an option's value, 75 a button's text)."""

from __future__ import annotations

import json
import zlib
from typing import Any

from bot import messages
from bot.mrkdwn import clip, escape, fit, link, local, safe_url, shorten, when
from monitor.daemon.notify import Question
from monitor.enrich.alerts import Alert
from monitor.enrich.describe import TOPIC_KINDS
from monitor.ingest.text import neutral
from monitor.reports.digest import Digest, sections

SNIPPET_CHARS = 200
TITLE_CHARS = 200
TEXT_LIMIT = 3000
OPTION_VALUE_LIMIT = 150


def fallback_text(alert: Alert) -> str:
    """The notification text (shown where blocks are not): the rule, then the item's title or, for a topic alert,
    why it fired."""
    if alert.kind in TOPIC_KINDS:
        return escape(f"[{alert.rule}] {shorten(messages.alert_reason(alert, plain=True), TITLE_CHARS)}")
    return escape(f"[{alert.rule}] {shorten(alert.title or alert.snippet, TITLE_CHARS)}")


def confirm(title: str, text: str, ok: str) -> dict[str, Any]:
    """A Block Kit confirmation dialog for a destructive button (Slack asks before it sends the click)."""
    return {"title": {"type": "plain_text", "text": shorten(title, 100)},
            "text": {"type": "mrkdwn", "text": clip(text, 300)}, "style": "danger",
            "confirm": {"type": "plain_text", "text": shorten(ok, 30)},
            "deny": {"type": "plain_text", "text": "Cancel"}}


def label_key(name: str) -> str:
    """A short check of a label's name, sent with its index so a menu older than a change of the task's labels
    cannot record the wrong one."""
    return f"{zlib.crc32(name.encode()) & 0xFFFF:04x}"


def relabel_value(item_id: str, index: int, name: str) -> str:
    """A relabel option's value: the item, the label's index in its task and the label's check (never the names,
    which Block Kit's 150 characters of an option value could not always carry)."""
    return json.dumps({"i": item_id, "l": index, "k": label_key(name)})


def mute_button(alert: Alert) -> dict[str, Any]:
    """Mute the alert's rule on its topic, after a confirmation; other rules keep alerting about it."""
    title, text, ok = messages.CONFIRM_MUTE
    return {"type": "button", "action_id": "lookout_mute", "value": json.dumps({"t": alert.topic_id,
                                                                               "r": alert.rule}),
            "text": {"type": "plain_text", "text": "Mute"},
            "confirm": confirm(title, text.format(rule=escape(shorten(alert.rule, 60)), topic=alert.topic_id), ok)}


def undo_mute(topic_id: int, rule: str, note: str, key: str) -> list[dict[str, Any]]:
    """The line saying what was muted, with an Undo button that lifts that mute (``key`` keeps its block id unique
    in the message)."""
    return [{"type": "context", "elements": [{"type": "mrkdwn", "text": clip(note, TEXT_LIMIT)}]},
            {"type": "actions", "block_id": f"lookout_undo:{topic_id}:{key}"[:255], "elements": [
                {"type": "button", "action_id": "lookout_unmute", "value": json.dumps({"t": topic_id, "r": rule}),
                 "text": {"type": "plain_text", "text": "Undo"}}]}]



def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """Untrusted text as a short mrkdwn line: spaces and line breaks collapsed, cut at a word within ``limit``
    characters (with an ellipsis), then escaped."""
    flat = " ".join(neutral(text).split())
    if len(flat) <= limit:
        return escape(flat)
    cut = flat[: limit - 1]
    if " " in cut[limit // 2:]:
        cut = cut.rsplit(" ", 1)[0]
    return escape(cut.rstrip(" ,.;:-–—")) + "…"


def _relabel_options(alert: Alert, task: str, names: list[str]) -> list[dict[str, Any]]:
    """One option per label; an option whose value would pass Slack's 150 characters is left out (Slack refuses
    the whole message otherwise)."""
    options = [{"text": {"type": "plain_text", "text": shorten(n, 75)},
                "value": relabel_value(alert.item_id, j, n)} for j, n in enumerate(names[:100])]
    return [o for o in options if len(o["value"]) <= OPTION_VALUE_LIMIT]


def actions(alert: Alert, tasks: dict[str, list[str]]) -> dict[str, Any]:
    """Buttons and menus under an alert: confirm the labels, pick the right label per task, mute the rule on the
    topic (after a confirmation), open the item. A topic alert is about the topic, so it has only the mute button."""
    elements: list[dict[str, Any]] = []
    about_item = alert.kind not in TOPIC_KINDS
    if alert.labels and about_item:
        elements.append({"type": "button", "action_id": "lookout_confirm", "style": "primary",
                         "text": {"type": "plain_text", "text": "Labels are right"},
                         "value": json.dumps({"i": alert.item_id})})
    for task, label, *_ in alert.labels[:3] if about_item else []:
        options = _relabel_options(alert, str(task), tasks.get(str(task), []))
        if options:
            elements.append({"type": "static_select", "action_id": f"lookout_relabel:{task}"[:255],
                             "placeholder": {"type": "plain_text", "text": shorten(f"{task}: not {label}?", 150)},
                             "options": options})
    elements.append(mute_button(alert))
    url = safe_url(alert.url)
    if url and about_item:
        elements.append({"type": "button", "action_id": "lookout_open", "url": url,
                         "text": {"type": "plain_text", "text": "Open"}})
    return {"type": "actions", "elements": elements}


def _topic_line(alert: Alert) -> str:
    """``*Topic kubernetes / upgrade* (12 items): kubernetes, upgrade, …``: an item alert's topic, by its name."""
    keywords = escape(shorten(", ".join(alert.topic_keywords[:8]), 300)) or "no keywords yet"
    name = escape(shorten(alert.topic_name, 80)) or f"#{alert.topic_id}"
    return f"*Topic {name}* ({messages.plural(alert.topic_size, 'item')}): {keywords}"


def _item_blocks(alert: Alert) -> list[dict[str, Any]]:
    """What an item alert shows after its reason: the item (title linked, snippet), its labels and its topic."""
    title = link(alert.url, shorten(alert.title, TITLE_CHARS) or "(no title)")
    labels = " · ".join(f"*{escape(str(task))}*: {escape(str(label))} {float(conf):.0%}{' (unsure)' if unsure else ''}"
                        for task, label, conf, unsure in alert.labels) or "no labels"
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": fit(f"*{title}*\n{snippet(alert.snippet)}",
                                                                   TEXT_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(f"Labels: {labels}", TEXT_LIMIT)},
                                         {"type": "mrkdwn", "text": fit(_topic_line(alert), TEXT_LIMIT)}]},
    ]


def _topic_blocks(alert: Alert) -> list[dict[str, Any]]:
    """What a topic alert shows after its reason: the topic's keywords and its most typical items, linked."""
    typical = alert.typical or [[alert.item_id, alert.title, alert.url]]
    items = "\n".join(f"• {link(url, shorten(' '.join(title.split()), 120) or '(no title)')}"
                      for _, title, url in typical[:3])
    keywords = escape(shorten(", ".join(alert.topic_keywords[:8]), 300)) or "no keywords yet"
    size = f" · {messages.plural(alert.topic_size, 'item')} in all" if alert.kind != "topic_size" else ""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": fit(
        f"Keywords: {keywords}{size}\n*Most typical items*\n{items}", TEXT_LIMIT)}}]


def alert_blocks(alert: Alert, tasks: dict[str, list[str]] | None = None, zone: str = "UTC"
                 ) -> list[dict[str, Any]]:
    """An alert as Block Kit, leading with why it fired (the rule and what it saw); then, for an item, its title
    linked, a short snippet, its labels and its topic by name, or, for a topic alert, the topic and its three most
    typical items; then the actions that correct or mute it, and where it came from and when (in ``zone``)."""
    where = f"from {escape(alert.source)} · item {escape(alert.item_id)} · " \
        if alert.kind not in TOPIC_KINDS else ""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": fit(messages.alert_reason(alert), TEXT_LIMIT)}},
        *(_topic_blocks(alert) if alert.kind in TOPIC_KINDS else _item_blocks(alert)),
        actions(alert, tasks or {}),
        {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(
            f"rule `{escape(alert.rule)}` · {where}topic #{alert.topic_id} · {when(alert.created_at, zone)}",
            TEXT_LIMIT)}]},
    ]


def question_blocks(question: Question) -> list[dict[str, Any]]:
    """Active learning: each item the model was least sure of, with one button per label (an answer is a
    correction)."""
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": fit(
        f":thinking_face: *Which `{escape(question.task)}` label is right?* The model was least sure of these today; "
        "each answer becomes a correction for the next retrain.", TEXT_LIMIT)}}]
    for n, item in enumerate(question.items[:24]):
        title = link(item.url, shorten(item.title or item.text, TITLE_CHARS) or "(no title)")
        snippet = escape(shorten(item.text, 300))
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": fit(
            f"*{title}*\n{snippet}\n_model says {escape(item.label)}, margin {item.margin:.2f}_ · "
            f"item `{escape(item.item_id[:10])}`", TEXT_LIMIT)}})
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "action_id": f"lookout_answer:{n}:{j}", "text": {"type": "plain_text",
                                                                                "text": shorten(label, 75)},
             "value": json.dumps({"i": item.item_id, "t": question.task, "l": label})}
            for j, label in enumerate(question.labels[:25])]})
    return blocks[:50]


DIGEST_ICONS = {"Rising": ":chart_with_upwards_trend: ", "Fading": ":chart_with_downwards_trend: "}


def digest_title(d: Digest, zone: str = "UTC") -> str:
    """``Lookout digest, 2024-05-01 08:00 to 2024-05-02 08:00 JST``: the period in the team's time zone."""
    start, end = local(d.start, zone), local(d.end, zone)
    return f"Lookout digest, {start.rsplit(' ', 1)[0]} to {end}"


def digest_blocks(d: Digest, zone: str = "UTC") -> list[dict[str, Any]]:
    """A trend digest as Block Kit: its topic sections (rising, fading, busiest) and the label counts against the
    period before, its period in the team's ``zone`` (the chart follows as a file in the message's thread)."""
    def topic(tid: int, count: int, tail: str) -> str:
        name = f" {escape(shorten(d.names[tid], 80))}" if tid in d.names else ""
        words = escape(shorten(', '.join(d.keywords.get(tid, [])[:6]), 200)) or "no keywords"
        title, url = d.typical.get(tid, ("", ""))
        typical = f"\n      e.g. {link(url, shorten(title or url, 120) or 'untitled')}" if title or url else ""
        return f"*#{tid}{name}* ({messages.plural(count, 'item')}): {words}{tail}{typical}"

    def section(title: str, lines: list[str], empty: str) -> dict[str, Any]:
        body = "\n".join(f"• {line}" for line in lines) or f"_{empty}_"
        return {"type": "section", "text": {"type": "mrkdwn", "text": fit(f"*{title}*\n{body}", TEXT_LIMIT)}}

    labels = [f"{escape(task)} = {escape(label)}: {now} (before: {before})" for task, label, now, before in d.labels]
    topics = [section(f"{DIGEST_ICONS.get(title, '')}{title}", [topic(*row) for row in rows], empty)
              for title, rows, empty in sections(d)]
    return [
        {"type": "header", "text": {"type": "plain_text", "text": shorten(digest_title(d, zone), 150)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{messages.plural(d.items, 'item')}, against "
                                                                    f"{d.items_before} in the {d.hours:g} hours "
                                                                    "before"}]},
        *topics[:47],
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
            f"*{escape(label['name'])}* ({messages.plural(label.get('size', 0), 'item')}): "
            f"{escape(label['description'])}{example}",
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
             "text": {"type": "plain_text", "text": "Discard"},
             "confirm": confirm(*_discard(pid))}]})
    elif proposal.get("task"):
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"Accepted as task "
                                                        f"`{escape(proposal['task'])}`"}]})
    return blocks


def _discard(proposal_id: int) -> tuple[str, str, str]:
    title, text, ok = messages.CONFIRM_DISCARD
    return title, text.format(proposal=proposal_id), ok


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
