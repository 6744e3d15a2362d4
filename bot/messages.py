"""Every user-facing string of the Slack bot, and the Block Kit it answers with."""

from __future__ import annotations

from typing import Any

from bot.mrkdwn import clip, escape, link, shorten, when
from monitor.service import describe_event

USAGE = {
    "help": "`/lookout help`: this list",
    "status": "`/lookout status`: sources and their health, items and alerts today, labels",
    "topics": "`/lookout topics [n]`: the n largest topics now (1-20, default 5)",
    "search": "`/lookout search <words>`: stored items nearest in meaning to the words",
    "trends": "`/lookout trends [hours]`: topics rising above or falling below their baseline (1-168 h, default 24)",
    "topic": "`/lookout topic <id>`: one topic's keywords, growth and typical items",
    "label": "`/lookout label <item> <label> [task]`: correct an item's label (item id as shown in alerts)",
    "mute": "`/lookout mute <topic>`: no more alerts about that topic",
    "retrain": "`/lookout retrain [task]`: fine-tune a task's classifier (or every task's) now from the labels and "
               "corrections; progress follows in a thread",
    "taxonomy": "`/lookout taxonomy [labels]`: propose labels for a new task from the stored topics (2-50); "
                "review them with the menus and accept them as a task",
    "watch": "`/lookout watch list`, `watch add <feed-url> [name]`, `watch add keyword <regex> [name]`, "
             "`watch remove <name>`: what Lookout watches",
    "subscribe": "`/lookout subscribe <feed-url>`, `subscribe keyword <regex>`, `subscribe topic <id>`, "
                 "`subscribe label <task>=<label>`: send those alerts to this channel too",
    "subscriptions": "`/lookout subscriptions`: what this channel is subscribed to",
    "unsubscribe": "`/lookout unsubscribe <id>`: end one of this channel's subscriptions",
}
HELP = "*Lookout commands*\n" + "\n".join(f"• {line}" for line in USAGE.values())
SEARCHING = "Searching…"
PROPOSING = "Proposing a taxonomy from the stored topics… it appears in this channel for review."
RETRAIN_QUEUED = "Queued: training starts within seconds; progress follows in a thread in this channel."
NOTHING_FOUND = "Nothing stored matches that yet."
NO_TOPICS = "No topic has {n} or more items yet."


NOT_ADMIN = "Only Lookout's admins may {what}; ask one of them."
WRONG_CHANNEL = "Corrections are accepted from members of Lookout's channels only."
NOT_UNDERSTOOD = "I didn't catch that. Ask me \"what's trending?\" or \"anything about <words>?\", or use:\n"


def muted(topic: dict[str, Any]) -> str:
    return f"Muted topic *#{topic['id']}* ({escape(', '.join(topic['keywords'][:5]))}): no more alerts about it."


def mute_note(user: str, topic_id: int) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f":mute: <@{user}> muted topic #{topic_id}"}]}


def topic_text(topic: dict[str, Any]) -> str:
    if not topic["alive"] and topic["merged_into"]:
        return f"Topic #{topic['id']} was merged into #{topic['merged_into']}."
    name = f" {escape(topic['name'])}" if topic.get("name") else ""
    size = f"{topic['size']} item{'' if topic['size'] == 1 else 's'}"
    lines = [f"*Topic #{topic['id']}{name}*{'' if topic['alive'] else ' (forgotten)'}: {size}, "
             f"{topic['last_day']} in the last day, {topic['before']} before",
             f"Keywords: {escape(', '.join(topic['keywords'])) or 'none yet'}"]
    lines += [f"• {link(r['url'], shorten(r['title'], 100) or '(no title)')} · `{r['id'][:10]}`"
              for r in topic["representatives"]]
    lines += [f"_{when(e['at'])}: {escape(describe_event(e, topic['id']))}_" for e in topic.get("history", [])[-5:]]
    return "\n".join(lines)


def model_line(m: dict[str, Any]) -> str:
    score = f", held-out {escape(m['metric'])} {m['score']:.3f}" if m["score"] is not None else ""
    if m.get("zero_shot") is not None:
        score += f" against {m['zero_shot']:.3f} zero-shot"
    agree, compared = m.get("auto_agreement", (0, 0))
    auto = f"; automatic labels agree with {agree} of {compared} corrections" if compared else ""
    rung = "" if m["version"] == m["rung"] else f" ({escape(m['rung'])}{', int8' if m['int8'] else ''})"
    return (f"• `{escape(m['task'])}`: {escape(m['version'])}{rung}{score}; "
            f"{m['waiting']} correction{'' if m['waiting'] == 1 else 's'} since the last training run{auto}")


def retrain_queued(task: str, user: str) -> str:
    return f":hammer_and_wrench: Retraining `{escape(task)}`, asked by <@{user}>. Progress follows in this thread."


def retrain_busy(task: str, run_id: int) -> str:
    return f"A training run of `{escape(task)}` (#{run_id}) is already waiting or running."


def home_view(status: dict[str, Any], topics: str, alerts: list[dict[str, Any]], models: list[dict[str, Any]]
              ) -> dict[str, Any]:
    """The App Home dashboard: topics, recent alerts, models per task, corrections waiting, source health."""
    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, 2900)}}

    recent = "\n".join(f"• *{escape(a['rule'])}*: {link(a['url'], shorten(a['title'], 80) or '(no title)')} "
                       f"({escape(a['status'])})" for a in alerts) or "No alerts yet."
    tasks = "\n".join(model_line(m) for m in models) or "No tasks configured."
    return {"type": "home", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Lookout"}},
        section(status_text(status)), {"type": "divider"},
        section(topics), {"type": "divider"},
        section(f"*Recent alerts*\n{recent}"), {"type": "divider"},
        section(f"*Models*\n{tasks}"),
    ]}


def watching(kind: str, name: str, target: str) -> str:
    what = "feed" if kind == "feed" else "keyword rule"
    return f"Now watching {what} `{escape(name)}`: `{escape(shorten(target, 200))}` (live within seconds)."


def unwatched(name: str) -> str:
    return f"Stopped watching `{escape(name)}`."


def watch_list(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "Nothing is watched yet: `/lookout watch add <feed-url>`."
    return "*Watched*\n" + "\n".join(f"• `{escape(r['name'])}` ({escape(r['kind'])}, {escape(r['origin'])}): "
                                      f"`{escape(shorten(r['target'], 100))}`" for r in rows)


def trends_text(report: Any, hours: int) -> str:
    def lines(picked: list[Any]) -> str:
        return "\n".join(f"• *#{t.topic_id}* {t.latest} in the last bin (baseline {t.baseline:.1f}, score "
                         f"{t.score:+.1f}): {escape(', '.join(report.keywords.get(t.topic_id, [])[:5]))}"
                         for t in picked[:8])

    moved = "\n".join(f"• {escape(t.task)} = {escape(t.label)}: {t.latest} in the last bin (baseline "
                      f"{t.baseline:.1f}, score {t.score:+.1f})" for t in report.labels[:8] if abs(t.score) >= 2)
    climbing = "\n".join(f"• *#{t.topic_id}* {t.latest} in the last bin, {t.slope:+.1f} a bin: "
                         f"{escape(', '.join(report.keywords.get(t.topic_id, [])[:5]))}" for t in report.climbing[:5])
    return (f"*Rising over the last {hours} h*\n{lines(report.rising) or 'Nothing is rising above its baseline.'}"
            + (f"\n*Climbing steadily*\n{climbing}" if climbing else "")
            + f"\n*Fading*\n{lines(report.fading) or 'Nothing is fading.'}"
            f"\n*Labels*\n{moved or 'No label moved away from its baseline.'}")


def unknown_command(name: str) -> str:
    return f"I don't know `{escape(name)}`.\n{HELP}"


def usage(name: str) -> str:
    return f"Usage: {USAGE[name]}"


def error(message: str) -> str:
    """An error, escaped: its message may quote what a user typed or a source sent."""
    return f":warning: {escape(message)}"


def corrected(title: str, task: str, old: str, new: str) -> str:
    was = f" (was {escape(old)})" if old and old != new else " (confirmed)" if old == new else ""
    return f"Recorded: *{escape(shorten(title, 80) or 'the item')}* is *{escape(new)}* in `{escape(task)}`{was}."


def correction_note(user: str, task: str, old: str, new: str) -> dict[str, Any]:
    what = f"confirmed {escape(task)} = {escape(new)}" if old == new else \
        f"set {escape(task)} to {escape(new)} (was {escape(old) or 'none'})"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f":pencil2: <@{user}> {what}"}]}


def status_text(status: dict[str, Any], models: list[dict[str, Any]] | None = None) -> str:
    lines = [f"*{status['items']}* items ({status['items_today']} today, {status['pending']} waiting), "
             f"*{status['topics']}* live topics, *{status['alerts_today']}* alerts today"]
    for s in status["sources"]:
        health = ":red_circle: failing: " + escape(shorten(s["last_error"] or "", 80)) if s["failures"] else \
            ":large_green_circle: ok"
        lines.append(f"• `{escape(s['name'])}` ({escape(s['kind'])}): {health}, {s['items_today']} today")
    for row in status["labels"]:
        lines.append(f"• {escape(row['task'])} = {escape(row['label'])}: {row['n']} items")
    lines += [model_line(m) for m in models or []]
    return "\n".join(lines)


def topics_text(topics: list[dict[str, Any]], titles: dict[str, str]) -> str:
    lines = []
    for t in topics:
        typical = titles.get(t["representatives"][0][1], "") if t["representatives"] else ""
        name = f" {escape(t['name'])}" if t.get("name") else ""
        related = f" · related: {', '.join(f'#{c}' for c in t['children'][:5])}" if t.get("children") else \
            f" · part of #{t['parent']}" if t.get("parent") else ""
        size = f"{t['size']} item{'' if t['size'] == 1 else 's'}"
        lines.append(f"• *#{t['id']}{name}* ({size}{related}): {escape(', '.join(t['keywords'][:6]))}"
                     + (f" — _{escape(shorten(typical, 80))}_" if typical else ""))
    return "*Largest topics*\n" + "\n".join(lines)


def search_text(query: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return NOTHING_FOUND
    lines = [f"*Nearest to* “{escape(shorten(query, 80))}”"]
    for r in rows:
        title = link(r["url"], shorten(r["title"], 100) or "(no title)")
        lines.append(f"• {title} · {escape(r['source'])} · `{r['id'][:10]}` · {r['similarity']:.2f}")
    return "\n".join(lines)


def accepted(done: Any, user: str, run_id: int) -> str:
    counts = ", ".join(f"{escape(name)} {done.per_label.get(name, 0)}" for name in done.labels)
    return (f":white_check_mark: <@{user}> accepted the taxonomy as task `{escape(done.task)}`. {done.kept} of the "
            f"{done.labelled} newest items were labelled automatically ({counts}); training run #{run_id} fine-tunes "
            "its classifier from them, and corrections outrank them from now on.")


NOT_ALLOWED = "Lookout does not take that request from anyone; nothing was changed."


def members_unknown(error: str) -> str:
    return (f"I could not check who is in Lookout's channels just now (Slack said `{escape(error)}`); nothing was "
            "changed, please try again in a minute.")


THREAD_NOTE = "lookout_thread"
"""the block id of the line under a thread's first alert that counts the alerts in its thread"""


def thread_note(count: int) -> dict[str, Any]:
    more = count - 1
    return {"type": "context", "block_id": THREAD_NOTE, "elements": [{"type": "mrkdwn", "text": (
        f":thread: {more} more alert{'' if more == 1 else 's'} about this topic in the thread")}]}


def subscription_line(sub: Any, target: str) -> str:
    """One subscription, its ``target`` as it may be shown (a feed's URL without its credentials)."""
    what = {"feed": f"feed `{escape(sub.source)}`: `{escape(shorten(target, 150))}`",
            "keyword": f"keyword `{escape(shorten(target, 150))}`", "topic": f"topic #{escape(target)}",
            "label": f"label `{escape(target)}`"}[sub.kind]
    return f"*#{sub.id}* {what} (by <@{escape(sub.created_by)}>)" if sub.created_by.startswith(("U", "W")) else \
        f"*#{sub.id}* {what} (by {escape(sub.created_by)})"


def subscribed(sub: Any, target: str) -> str:
    return (f"Subscribed this channel: {subscription_line(sub, target)}. Matching alerts come here from now on "
            "(the bot must be a member of the channel: `/invite @lookout`).")


def unsubscribed(sub: Any, target: str, stopped: bool) -> str:
    feed = f" The feed `{escape(sub.source)}` is no longer watched." if stopped else ""
    return f"Unsubscribed this channel from {subscription_line(sub, target)}.{feed}"


def subscription_list(lines: list[str]) -> str:
    if not lines:
        return "This channel has no subscriptions yet: `/lookout subscribe <feed-url>`."
    return "*This channel's subscriptions*\n" + "\n".join(f"• {line}" for line in lines)


RECORDED = "Recorded."
DISPUTE_PROMPT = "You disputed this alert's labels. Which label is right?"
NOTHING_TO_RELABEL = "This alert has no labels to correct."
