"""Every user-facing string of the Slack bot, and the Block Kit it answers with."""

from __future__ import annotations

from typing import Any

from bot.mrkdwn import escape, link, local, shorten, when
from monitor.enrich.alerts import Alert
from monitor.service import Found, describe_event
from monitor.store.mutes import MuteRow
from monitor.store.topics import TopicDetail, TopicRow

USAGE = {
    "help": "`/lookout help`: this list",
    "status": "`/lookout status`: sources and their health, items and alerts today, labels",
    "topics": "`/lookout topics [n]`: the n largest topics now (1-20, default 5)",
    "search": "`/lookout search <words>`: stored items nearest in meaning to the words",
    "trends": "`/lookout trends [hours]`: topics rising above or falling below their baseline (1-168 h, default 24)",
    "topic": "`/lookout topic <id>`: one topic's keywords, growth and typical items",
    "label": "`/lookout label <item> <label> [task]`: correct an item's label (item id as shown in alerts)",
    "mute": "`/lookout mute <topic> [rule] [for 2h or until 2025-07-01]`: no more alerts about that topic (from that "
            "rule only, when named), for good or for a while",
    "mutes": "`/lookout mutes`: the mutes in force, who set them and when they end",
    "unmute": "`/lookout unmute <topic> [rule]`: alerts about that topic again (from that rule only, when named)",
    "retrain": "`/lookout retrain [task]`: fine-tune a task's classifier (or every task's) now from the labels and "
               "corrections; progress follows in a thread",
    "taxonomy": "`/lookout taxonomy [labels]`: propose labels for a new task from the stored topics (2-50); "
                "review them with the menus and accept them as a task",
    "watch": "`/lookout watch list`, `watch add <feed-url> [name]`, `watch add keyword <regex> [name]`, "
             "`watch remove <name>`: what Lookout watches",
    "digest": "`/lookout digest`: post today's digest in this channel now; `/lookout digest schedule daily HH:MM`, "
              "`/lookout digest schedule weekly <day> HH:MM`, `/lookout digest schedule off`: when it is posted by "
              "itself (in `time.timezone`)",
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
NOT_WORKSPACE_ADMIN = ("Only the workspace's admins and owners may {what} (Lookout's `bot.admins` names no one); ask "
                       "one of them.")
WRONG_CHANNEL = "Corrections are accepted from members of Lookout's channels only."
NOT_UNDERSTOOD = "I didn't catch that. Ask me \"what's trending?\" or \"anything about <words>?\", or use:\n"


def mute_scope(topic_id: int, rule: str, until: float | None) -> str:
    """``topic #12`` / ``rule *security* on topic #12``, with the end: `` until <date>`` or nothing."""
    what = f"*{escape(shorten(rule, 80))}* alerts about topic #{topic_id}" if rule else \
        f"alerts about topic #{topic_id}"
    return what + (f" until {when(until)}" if until is not None else "")


def muted(topic: TopicDetail, rule: str, until: float | None) -> str:
    others = " Other rules still alert." if rule else ""
    return (f"Muted {mute_scope(topic.id, rule, until)} "
            f"({escape(shorten(', '.join(topic.keywords[:5]), 200))}).{others}")


def mute_note_text(user: str, topic_id: int, rule: str, until: float | None) -> str:
    return f":mute: <@{user}> muted {mute_scope(topic_id, rule, until)}"


def unmuted(user: str, lifted: list[MuteRow]) -> str:
    return f":loud_sound: <@{user}> unmuted " + "; ".join(mute_scope(m.topic_id, m.rule, None) for m in lifted) + "."


def mutes_text(rows: list[MuteRow]) -> str:
    if not rows:
        return "Nothing is muted."
    lines = [f"• {mute_scope(m.topic_id, m.rule, m.until)}" + (f" (now part of #{m.on})" if m.on != m.topic_id else "")
             + f", by <@{m.user}> {when(m.created_at)}" for m in rows]
    return "*Muted*\n" + "\n".join(lines[:40]) + ("\n…" if len(lines) > 40 else "") + \
        "\nLift one with `/lookout unmute <topic> [rule]`."


CONFIRM_MUTE = ("Mute these alerts?", "No more *{rule}* alerts about topic #{topic} until someone unmutes it. Other "
                "rules still alert. Undo under this message or with `/lookout unmute {topic}`.", "Mute")
CONFIRM_DISCARD = ("Discard this proposal?", "Proposal #{proposal} and its labels are dropped for good; a new one "
                   "takes `/lookout taxonomy` again.", "Discard")


def topic_text(topic: TopicDetail, zone: str = "UTC") -> str:
    if not topic.alive and topic.merged_into:
        return f"Topic #{topic.id} was merged into #{topic.merged_into}."
    name = f" {escape(topic.name)}" if topic.name else ""
    gone = "" if topic.alive else " (forgotten)"
    lines = [f"*Topic #{topic.id}{name}*{gone}: {plural(topic.size, 'item')}, "
             f"{topic.last_day} in the last day, {topic.before} before",
             f"Keywords: {escape(', '.join(topic.keywords)) or 'none yet'}"]
    lines += [f"• {link(r.url, shorten(r.title, 100) or '(no title)')} · `{r.id[:10]}`" for r in topic.representatives]
    lines += [f"_{when(e.at, zone)}: {escape(describe_event(e, topic.id))}_" for e in topic.history[-5:]]
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
    born = "\n".join(f"• *#{t.topic_id}* {plural(t.items, 'item')} since {when(t.born)}: "
                     f"{escape(', '.join(report.keywords.get(t.topic_id, [])[:5]))}" for t in report.new[:8])
    young = (f"Too early to tell: {report.history} of the {report.warmup} bins of watched history a new topic "
             "needs." if report.young else "No new topic.")
    return (f"*New over the last {hours} h*\n{born or young}\n"
            f"*Rising over the last {hours} h*\n{lines(report.rising) or 'Nothing is rising above its baseline.'}"
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


def labels_changed(task: str) -> str:
    return (f"the labels of task `{task}` changed since this alert was posted, so nothing was recorded; correct it "
            "with `/lookout label <item> <label>`")


def correction_note(user: str, task: str, old: str, new: str) -> dict[str, Any]:
    what = f"confirmed {escape(task)} = {escape(new)}" if old == new else \
        f"set {escape(task)} to {escape(new)} (was {escape(old) or 'none'})"
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": f":pencil2: <@{user}> {what}"}]}


def status_text(status: dict[str, Any], models: list[dict[str, Any]] | None = None, schedule: str = "") -> str:
    """Counts, source health and labels; ``schedule`` (``schedule_line``) says when the next digest goes out."""
    lines = [f"*{status['items']}* items ({status['items_today']} today, {status['pending']} waiting), "
             f"*{status['topics']}* live topics, *{status['alerts_today']}* alerts today"]
    for s in status["sources"]:
        health = ":red_circle: failing: " + escape(shorten(s["last_error"] or "", 80)) if s["failures"] else \
            ":large_green_circle: ok"
        lines.append(f"• `{escape(s['name'])}` ({escape(s['kind'])}): {health}, {s['items_today']} today")
    for row in status["labels"]:
        lines.append(f"• {escape(row['task'])} = {escape(row['label'])}: {plural(row['n'], 'item')}")
    lines += [model_line(m) for m in models or []]
    return "\n".join([*lines, schedule] if schedule else lines)


def topics_text(topics: list[TopicRow], titles: dict[str, str]) -> str:
    lines = []
    for t in topics:
        typical = titles.get(t.typical_id, "")
        name = f" {escape(t.name)}" if t.name else ""
        related = f" · related: {', '.join(f'#{c}' for c in t.children[:5])}" if t.children else \
            f" · part of #{t.parent}" if t.parent else ""
        lines.append(f"• *#{t.id}{name}* ({plural(t.size, 'item')}{related}): "
                     f"{escape(', '.join(t.keywords[:6]))}"
                     + (f" — _{escape(shorten(typical, 80))}_" if typical else ""))
    return "*Largest topics*\n" + "\n".join(lines)


def search_text(query: str, rows: list[Found]) -> str:
    if not rows:
        return NOTHING_FOUND
    lines = [f"*Nearest to* “{escape(shorten(query, 80))}”"]
    for r in rows:
        title = link(r.item.url, shorten(r.item.title, 100) or "(no title)")
        lines.append(f"• {title} · {escape(r.item.source)} · `{r.item.id[:10]}` · {r.similarity:.2f}")
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


def admins_unknown(error: str) -> str:
    return (f"I could not check with Slack whether you are a workspace admin just now (Slack said "
            f"`{escape(error)}`); nothing was changed, please try again in a minute.")


def plural(n: int, word: str) -> str:
    """``1 item``, ``3 items``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def _window(minutes: float) -> str:
    return "this hour" if minutes == 60 else "today" if minutes == 1440 else f"in this {minutes:g}-minute window"


def _usual(baseline: float) -> str:
    return f"~{baseline:.0f}" if baseline >= 1 else f"~{baseline:.1f}"


def alert_reason(alert: Alert, plain: bool = False) -> str:
    """Why an alert fired, said first: ``Keyword rule *security* matched `CVE-\\d+```, ``Topic *kubernetes /
    upgrade* grew to 12 items``, ``Burst: *sars / pneumonia* 9 items this hour vs ~1``. ``plain`` leaves out the
    emoji and mrkdwn marks and does not escape (for the notification text, escaped as a whole)."""
    text = (lambda t: t) if plain else escape

    def bold(t: str) -> str:
        return t if plain else f"*{escape(t)}*"

    def icon(name: str) -> str:
        return "" if plain else f":{name}: "

    topic = bold(shorten(alert.topic_name, 80) or f"#{alert.topic_id}")
    if alert.kind == "keyword":
        pattern = shorten(alert.pattern, 150)
        shown = pattern if plain else f"`{escape(pattern).replace('`', 'ˋ')}`"
        return f"{icon('mag')}Keyword rule {bold(alert.rule)} matched {shown}"
    if alert.kind == "topic_size":
        return f"{icon('busts_in_silhouette')}Topic {topic} grew to {plural(alert.topic_size, 'item')}"
    if alert.kind in ("topic_burst", "label_rate"):
        what = topic if alert.kind == "topic_burst" else bold(alert.rule)
        than = "from next to none" if alert.baseline < 0.5 else f"vs {_usual(alert.baseline)}"
        return (f"{icon('zap')}{'Burst' if alert.kind == 'topic_burst' else 'Rate'}: {what} "
                f"{plural(alert.count, 'item')} {_window(alert.window_minutes)} {than}")
    rule = "Label rule " if alert.kind == "label" else ""
    return f"{icon('rotating_light')}{rule}{bold(alert.rule)}: {text(alert.reason)}"


DIGEST_BUILDING = "Putting today's digest together… it appears in this channel."


def digest_not_posted(error: str) -> str:
    return (f":warning: the digest could not be posted here (Slack said `{escape(error)}`); invite the bot to this "
            "channel and ask again")


def schedule_line(text: str, zone: str, next_at: float | None) -> str:
    """When the digest goes out: ``Digest: daily 08:00 (Asia/Tokyo), next 2024-05-02 08:00 JST``."""
    if next_at is None:
        return "Digest: not scheduled (`/lookout digest schedule daily 08:00` posts one every morning)"
    return f"Digest: {escape(text)} ({escape(zone)}), next {local(next_at, zone)}"


def schedule_set(user: str, text: str, zone: str, next_at: float | None) -> str:
    if next_at is None:
        return f"<@{user}> turned the scheduled digest off (`/lookout digest` still posts one now)."
    return (f"<@{user}> set the digest schedule to *{escape(text)}* ({escape(zone)}): the next one goes out "
            f"{local(next_at, zone)}.")


FIRST_RUN = ("*Welcome to Lookout.* It watches feeds, mailboxes and social streams, sorts and groups what comes in, "
             "and tells this workspace what matters. Nothing is set up yet; three steps get it going:")
FIRST_STEPS = (
    ("Watch something", "`/lookout watch add <feed-url> [name]` follows a feed (or add `[[feeds]]`, `[[imap]]`, "
                        "`[[mastodon]]`… to `lookout.toml`); `lookout run` on the server takes items in."),
    ("Sort what comes in", "once items have arrived, `/lookout taxonomy` proposes labels from the topics it found; "
                           "accept them as a task (or write `[[tasks]]` in `lookout.toml`)."),
    ("Be told", "`/lookout watch add keyword <regex>` alerts on a pattern, and `/lookout digest schedule daily "
                "08:00` posts a digest every morning (`/lookout digest` posts one now)."),
)
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
