"""The ``lookout`` command line: run the daemon, play the demo, and look at what Lookout has seen."""

from __future__ import annotations

import argparse
import asyncio
import csv
import dataclasses
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from tabulate import tabulate
from tqdm import tqdm

from models.embedding import Encoder
from models.keywords import topic_weights
from models.projection import PCA_DIMS
from models.topics import DISTRIBUTION_TEMPERATURE, topic_distribution
from monitor import service
from monitor.config.load import load_settings
from monitor.config.reference import reference
from monitor.config.schema import ConfigError, ReplaySettings, Settings
from monitor.daemon.core import Daemon
from monitor.daemon.notify import ConsoleNotifier, Notifier
from monitor.enrich.build import build_pipeline
from monitor.ingest.registry import build_sources
from monitor.ingest.sources.mailbox_file import MailboxSource
from monitor.ingest.text import neutral, neutral_url
from monitor.learning import job, runs, tuning
from monitor.learning.runs import minutes
from monitor.reports import charts, maps, trends
from monitor.reports import digest as digests
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.taxonomy import workflow

NotifierFactory = Callable[[Settings, Callable[[str], None]], Notifier]
DEMO_DB = "lookout-demo.db"
CLOUD_WORDS = 100
log = logging.getLogger("lookout")


def console_notifier(settings: Settings, write: Callable[[str], None]) -> Notifier:
    return ConsoleNotifier(write, color=settings.console.color)


def demo_file(name: str) -> Path:
    return Path(str(resources.files("monitor") / "demo" / name))


def load_cli_settings(args: argparse.Namespace) -> Settings:
    """Settings from ``--config`` (or $LOOKOUT_CONFIG, or ./lookout.toml) with ``--db`` applied and the tasks
    accepted from taxonomies (stored in the database) added."""
    path = args.config
    if path is None and Path("lookout.toml").is_file():
        path = "lookout.toml"
    overrides = {"store": {"path": args.db}} if getattr(args, "db", None) else {}
    settings = load_settings(path, overrides=overrides)
    if not Path(settings.store.path).is_file():
        return settings
    with Store(settings.store.path) as store:
        return workflow.with_stored_tasks(settings, store)


def _table(rows: Iterable[Iterable[object]], **options: Any) -> str:
    """``tabulate`` with every text cell made ``neutral`` (one line, nothing hidden), as cells may come from items."""
    return tabulate([[neutral(x) if isinstance(x, str) else x for x in row] for row in rows], **options)


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M") if ts else "never"


# commands -----------------------------------------------------------------------------------------------------------
def cmd_run(args: argparse.Namespace, factory: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    sources = build_sources(settings)
    if not sources and not settings.http.port:
        raise ConfigError("no sources: add [[feeds]], [[imap]] or [[replays]], or set http.port for webhooks")
    with Store(settings.store.path) as store:
        log.info("loading the embedding model (%s)", settings.model.embedding)
        pipeline = build_pipeline(settings, store)
        daemon = Daemon(settings, store, pipeline, factory(settings, print), sources)
        log.info("watching %d sources; store %s", len(sources), settings.store.path)
        asyncio.run(daemon.run(until_idle=args.until_idle))
    log.info("stopped after enriching %d items", daemon.processed)
    return 0


def cmd_demo(args: argparse.Namespace, factory: NotifierFactory) -> int:
    base = load_settings(demo_file("demo.toml"), overrides={"store": {"path": args.db}})
    data = Path(args.data) if args.data else demo_file("spamassassin_sample.jsonl")
    settings = dataclasses.replace(base, replays=(ReplaySettings("demo", str(data), rate=args.rate,
                                                                 limit=args.limit),))
    for suffix in ("", "-wal", "-shm"):
        Path(args.db + suffix).unlink(missing_ok=True)
    print(f"Lookout demo: replaying {data.name} through the whole pipeline (store: {args.db})")
    with Store(settings.store.path) as store:
        started = time.monotonic()
        print("Loading the embedding model...", flush=True)
        pipeline = build_pipeline(settings, store)
        sources = build_sources(settings)
        with tqdm(total=sources[0].total, unit="item", desc="enriched", dynamic_ncols=True) as bar:
            daemon = Daemon(settings, store, pipeline, factory(settings, tqdm.write), sources, on_progress=bar.update)
            asyncio.run(daemon.run(until_idle=True))
        elapsed = time.monotonic() - started
        print(f"\nEnriched {daemon.processed} items in {elapsed:.1f} s.\n")
        _print_topics(store, settings, limit=args.topics)
        _print_labels(store, settings)
    print(f"\nExplore further: lookout topics --db {args.db}  ·  lookout items --db {args.db} --label spam")
    return 0


def cmd_import(args: argparse.Namespace, factory: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    if args.no_alerts:
        settings = dataclasses.replace(settings, alerts=())
    source = MailboxSource(args.name or Path(args.path).name.split(".")[0], args.path, fmt=args.format,
                           limit=args.limit)
    with Store(settings.store.path) as store:
        print(f"Importing {source.total} messages from {args.path} into {settings.store.path}", flush=True)
        pipeline = build_pipeline(settings, store)
        with tqdm(total=source.total, unit="msg", desc="imported", dynamic_ncols=True) as bar:
            daemon = Daemon(settings, store, pipeline, factory(settings, tqdm.write), [source], on_progress=bar.update)
            asyncio.run(daemon.run(until_idle=True))
        status = store.status()
    print(f"Enriched {daemon.processed} new messages; the store now holds {status['items']} items "
          f"({status['failed']} failed).")
    return 0


def cmd_status(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        status = {**store.status(), "unknown_alerts": store.unknown_alerts()}
    if args.json:
        print(json.dumps(status, indent=2, default=str))
        return 0
    print(f"store {settings.store.path}: {status['items']} items ({status['items_today']} today, "
          f"{status['pending']} waiting, {status['failed']} failed), {status['topics']} live topics, "
          f"{status['alerts_today']} alerts today")
    if status["alerts_by_status"]:
        print("alerts: " + ", ".join(f"{n} {s}" for s, n in sorted(status["alerts_by_status"].items())))
    if unknown := status["unknown_alerts"]:
        print(f"\n{len(unknown)} alert(s) may or may not have reached Slack: Lookout stopped while sending them, "
              "and does not resend them (check the channel)")
        print(_table([[a["rule"], a["channel"], _when(a["created_at"]), neutral(a["title"] or "")[:60],
                       a["item_id"][:10]] for a in unknown],
                     headers=["rule", "channel", "fired (UTC)", "title", "item"]))
    if status["sources"]:
        print()
        print(_table([[s["name"], s["kind"], "failing" if s["failures"] else "ok", s["items_total"],
                       s["items_today"], _when(s["last_success"]), neutral(s["last_error"] or "")[:60]]
                      for s in status["sources"]],
                     headers=["source", "kind", "health", "items", "today", "last success (UTC)", "last error"]))
    if status["labels"]:
        print()
        _print_labels_rows(status["labels"])
    return 0


def cmd_topics(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        if args.tree:
            _print_tree(store, settings, args.limit, args.min_size)
        else:
            _print_topics(store, settings, limit=args.limit, min_size=args.min_size)
    return 0


def cmd_topic(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        t = service.topic(store, args.topic)
        weights = topic_weights(store.topic_terms(t["id"]), t["id"], CLOUD_WORDS) if args.cloud else []
    if args.cloud and not weights:
        raise ServiceError(f"topic #{t['id']} has no words to draw: its items left none after stop words")
    state = "live" if t["alive"] else f"merged into #{t['merged_into']}" if t["merged_into"] else "forgotten"
    print(f"Topic #{t['id']} {neutral(t['name'] or '')} ({state}): {t['size']} items, {t['last_day']} in the last day, "
          f"{t['before']} before; first seen {_when(t['first_seen'])}, last seen {_when(t['last_seen'])}")
    print(f"keywords: {neutral(', '.join(t['keywords'])) or 'none yet'}")
    for r in t["representatives"]:
        print(f"  {r['id'][:10]}  {(neutral(r['title'] or '') or '(no title)')[:70]}  {neutral_url(r['url'] or '')}")
    if t["history"]:
        print("history:")
        for e in t["history"]:
            print(f"  {_when(e['at'])}  {service.describe_event(e, t['id'])}")
    if args.cloud:
        charts.word_cloud(args.cloud, weights)
        print(f"word cloud of {len(weights)} words: {args.cloud}")
    return 0


def cmd_item(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        item = service.find_item(store, args.item)
        detail = store.item_detail(item["id"])
        ids, centres, _ = store.topic_centres()
        names = store.topic_names([*ids, *(t for t in (detail["topic_id"], detail["topic_now"]) if t)])
    print(f"Item {item['id']}: {neutral(item['title'] or '') or '(no title)'}")
    print(f"source: {neutral(item['source'])}")
    print(f"url:    {neutral_url(item['url'] or '') or '-'}")
    print("labels: " + (", ".join(f"{x['task']} = {x['label']} ({x['confidence']:.2f}, {x['model']})"
                                  for x in detail["labels"]) or "none yet"))
    assigned, now = detail["topic_id"], detail["topic_now"]
    merged = f" (merged into #{now} {neutral(names.get(now, ''))})" if now != assigned else ""
    print(f"topic:  #{assigned} {neutral(names.get(assigned, ''))}{merged}" if assigned else "topic:  none yet")
    if detail["embedding"] is None or not ids:
        print("\nno topic distribution: " + ("the item is not enriched yet" if detail["embedding"] is None
                                             else "there are no live topics yet"))
        return 0
    if centres.shape[1] != detail["embedding"].shape[0]:
        raise ServiceError("the item was embedded by another model than the topics' "
                           f"({detail['embedding'].shape[0]} against {centres.shape[1]} dimensions)")
    rows = topic_distribution(detail["embedding"], ids, centres, DISTRIBUTION_TEMPERATURE)[: args.top]
    print(f"\ntopic distribution (softmax of the cosine similarity to each live topic's centre, temperature "
          f"{DISTRIBUTION_TEMPERATURE:g}):")
    print(_table([[f"#{tid}", names.get(tid, ""), f"{p:.1%}" if p >= 0.001 else "<0.1%", f"{sim:.2f}",
                   "<- assigned" if tid == now else ""] for tid, sim, p in rows],
                 headers=["topic", "name", "probability", "similarity", ""], disable_numparse=True))
    return 0


def cmd_map(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    folder = Path(args.out) if args.out else digests.report_dir(settings.store.path, settings.digest.report_dir)
    with Store(settings.store.path) as store:
        item_map = maps.build(store, args.limit, args.color, args.task, say=lambda line: print(line, flush=True))
    png, page = maps.write(item_map, folder)
    print(f"{item_map.title}, {len(item_map.names)} topics named\nchart: {png}\npage:  {page}")
    return 0


def cmd_items(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        rows = store.items_with_label(args.task, args.label, args.limit)
    if not rows:
        print("no items" + (f" labelled {args.label}" if args.label else ""))
        return 0
    print(_table([[r["id"][:10], neutral(r["title"] or "")[:60], r["labels"] or "", r["topic_id"], r["source"]]
                  for r in rows], headers=["item", "title", "labels", "topic", "source"]))
    return 0


def cmd_settings(args: argparse.Namespace, _: NotifierFactory) -> int:
    if args.check:
        load_settings(args.check)
        print(f"{args.check}: valid")
        return 0
    print(tabulate(reference(), headers=["setting", "default", "meaning"], tablefmt="github"))
    return 0


def cmd_label(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        done = service.correct(store, settings, args.item, args.label, args.user, "cli", args.task)
    was = "confirmed" if done.old_label == done.new_label else f"was {done.old_label or 'unlabelled'}"
    print(f"{done.item_id[:10]} {done.title[:60]!r}: {done.task} = {done.new_label} ({was}), by {done.user}")
    return 0


def cmd_watch(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        if args.action == "list":
            rows = service.watches(store, settings)
            print(_table([[r["name"], r["kind"], r["origin"], r["target"]] for r in rows],
                         headers=["name", "kind", "added", "target"]) if rows else "nothing is watched yet")
        elif args.action == "remove" and args.target:
            service.remove_watch(store, settings, args.target)
            print(f"stopped watching {args.target}")
        elif args.action == "add" and bool(args.target) != bool(args.keyword):
            kind, target = ("keyword", args.keyword) if args.keyword else ("feed", args.target)
            name = service.add_watch(store, settings, kind, target, args.name, args.user)
            print(f"now watching {kind} {name}: {target}")
        else:
            raise ServiceError("expected `watch add URL`, `watch add --keyword REGEX` or `watch remove NAME`")
    return 0


def cmd_trends(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        report = service.trend_report(store, args.hours, args.bin_minutes, args.warmup, args.threshold)

    def rows(picked: list[trends.Trend]) -> list[list[object]]:
        return [[f"#{t.topic_id}", t.latest, f"{t.baseline:.1f}", f"{t.score:+.1f}",
                 ", ".join(report.keywords.get(t.topic_id, [])[:6])] for t in picked[: args.limit]]

    headers = ["topic", f"last {args.bin_minutes:g} min", "baseline", "score", "keywords"]
    print(f"Rising (score >= {args.threshold:g}):")
    print(_table(rows(report.rising), headers=headers) if report.rising else "  nothing is rising above its baseline")
    print("\nFading:")
    print(_table(rows(report.fading), headers=headers) if report.fading else "  nothing is fading")
    print("\nClimbing steadily (a line through the window at least doubles, slope t >= 3):")
    print(_table([[f"#{t.topic_id}", t.latest, f"{t.slope:+.2f}/bin", f"{t.climb_t:.1f}",
                   ", ".join(report.keywords.get(t.topic_id, [])[:6])] for t in report.climbing[: args.limit]],
                 headers=["topic", f"last {args.bin_minutes:g} min", "slope", "t", "keywords"])
          if report.climbing else "  nothing is climbing steadily")
    if report.labels:
        print("\nLabels:")
        print(_table([[f"{t.task} = {t.label}", t.latest, f"{t.baseline:.1f}", f"{t.score:+.1f}"]
                      for t in report.labels[: args.limit]],
                     headers=["label", f"last {args.bin_minutes:g} min", "baseline", "score"]))
    if args.chart:
        busiest = sorted(report.series, key=lambda tid: -int(report.series[tid].sum()))[: args.limit]
        charts.trend_chart(args.chart, {f"#{tid} {', '.join(report.keywords.get(tid, [])[:3])}": report.series[tid]
                                        for tid in busiest}, report.end, report.bin_seconds)
        print(f"\nchart: {args.chart}")
    return 0


def cmd_digest(args: argparse.Namespace, factory: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    d = settings.digest
    folder = Path(args.out) if args.out else digests.report_dir(settings.store.path, d.report_dir)
    with Store(settings.store.path) as store:
        digest = digests.build(store, args.hours or d.hours, args.history or d.history, d.limit, folder)
    digests.write(digest, folder)
    if args.send:
        notifier = factory(settings, print)
        asyncio.run(_deliver_digest(notifier, digest, d.channel or settings.slack.channel))
        print(f"digest sent; chart {digest.chart}, page {digest.report}")
    else:
        print(digests.text(digest))
        print(f"\nchart: {digest.chart}\npage:  {digest.report}")
    return 0


async def _deliver_digest(notifier: Notifier, digest: digests.Digest, channel: str) -> None:
    try:
        await notifier.digest(digest, channel)
    finally:
        await notifier.close()


def cmd_search(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        m = settings.model
        encoder = Encoder(m.embedding, device=m.device, batch_size=m.batch_size, max_chars=m.max_chars)
        rows = service.search(store, encoder.encode, " ".join(args.words), args.limit)
    if not rows:
        print("nothing stored yet")
        return 0
    print(_table([[f"{r['similarity']:.2f}", r["id"][:10], neutral(r["title"] or "")[:60], r["source"],
                   neutral_url(r["url"] or "")] for r in rows],
                 headers=["similarity", "item", "title", "source", "url"]))
    return 0


def _read_labelled(path: Path) -> list[dict]:
    """Rows of a JSONL or CSV file of labelled texts, with the line each came from."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as f:
            return [{**row, "_line": n} for n, row in enumerate(csv.DictReader(f), start=2)]
    rows = []
    for n, line in enumerate(path.open(encoding="utf-8"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise ServiceError(f"{path}:{n}: not JSON ({exc.msg}); nothing was imported") from None
        if not isinstance(row, dict):
            raise ServiceError(f"{path}:{n}: expected a JSON object; nothing was imported")
        rows.append({**row, "_line": n})
    return rows


def _create_task(settings: Settings, name: str, rows: list[dict], label_field: str, user: str) -> Settings:
    """Store task ``name`` with the labels found in ``rows`` (descriptions empty: zero-shot reads the names until
    they are described) and return the settings with it."""
    found = sorted({str(r.get(label_field) or "").strip() for r in rows} - {""})
    workflow.check_name(name)
    for label in found:
        workflow.check_name(label)
    if len(found) < 2:
        raise ServiceError(f"a task needs at least two labels; {len(found)} found in field `{label_field}`")
    with Store(settings.store.path) as store:
        store.save_task(name, [{"name": x, "description": ""} for x in found], "macro_f1", "labels import", user)
        print(f"created task {name} with {len(found)} labels: {', '.join(found[:10])}"
              + (f" and {len(found) - 10} more" if len(found) > 10 else ""))
        return workflow.with_stored_tasks(settings, store)


def cmd_labels(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    rows = _read_labelled(Path(args.file))
    if args.create and args.task not in {t.name for t in settings.tasks}:
        settings = _create_task(settings, args.task, rows, args.label_field, args.user)
    spec = runs.task_spec(settings, args.task)
    problems, good = [], []
    for row in rows:
        text, label = str(row.get(args.text_field) or "").strip(), str(row.get(args.label_field) or "").strip()
        split = str(row.get(args.split_field) or "").strip().lower()
        split = {"validation": "val", "dev": "val", "holdout": "test"}.get(split, split)
        if not text or not label:
            problems.append(f"line {row['_line']}: needs `{args.text_field}` and `{args.label_field}`")
        elif label not in spec.label_names:
            problems.append(f"line {row['_line']}: `{label}` is not a label of {spec.name} "
                            f"({', '.join(spec.label_names)})")
        elif split not in ("", "train", "val", "test"):
            problems.append(f"line {row['_line']}: split `{split}` is not train, val or test")
        else:
            good.append((text, label, split))
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise ServiceError(f"{args.file}: {len(problems)} bad rows, nothing was imported:\n  "
                           + "\n  ".join(problems[:5]) + more)
    with Store(settings.store.path) as store:
        n = store.import_examples(spec.name, good, Path(args.file).name)
    by_label = {name: sum(g[1] == name for g in good) for name in spec.label_names}
    print(f"imported {n} labelled texts for {spec.name}: " + ", ".join(f"{k} {v}" for k, v in by_label.items()))
    return 0


def cmd_train(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    if args.epochs:
        settings = dataclasses.replace(settings, training=dataclasses.replace(settings.training, epochs=args.epochs))
    if args.search:
        return _search(settings, args)
    with Store(settings.store.path) as store:
        queued = runs.request_retrain(store, settings, args.task, "cli", args.user, start=not args.request)
        if args.request:
            for task, run_id, new in queued:
                print(f"training run #{run_id} of {task} {'requested' if new else 'was already waiting'}; a running "
                      "daemon starts it within seconds")
            return 0
        busy = [f"{task} (run #{run_id})" for task, run_id, new in queued if not new]
        if busy:
            raise ServiceError(f"a training run is already waiting or running for {', '.join(busy)}; see "
                               "`lookout models list`")
        failed = 0
        for task, run_id, _new in queued:
            failed += _train_in_foreground(store, settings, task, run_id)
    return 1 if failed else 0


def _search(settings: Settings, args: argparse.Namespace) -> int:
    if not args.task or args.request or args.search < 0:
        raise ServiceError("--search N needs one TASK and N >= 1, and runs here (not with --request)")
    with Store(settings.store.path) as store:
        try:
            with tqdm(total=args.search, desc=f"searching {args.task}", unit="trial", dynamic_ncols=True) as bar:
                def show(done: int, best: float | None) -> None:
                    bar.update(done - bar.n)
                    if best is not None:
                        bar.set_postfix(best=f"{best:.3f}")

                record = tuning.tune(store, settings, args.task, args.search, on_trial=show)
        except runs.LearningError as exc:
            print(f"{args.task}: search failed: {exc}", file=sys.stderr)
            return 1
    print(tuning.describe(record))
    return 0


def _train_in_foreground(store: Store, settings: Settings, task: str, run_id: int) -> int:
    with tqdm(desc=f"training {task}", unit="step", dynamic_ncols=True) as bar:
        def show(state: dict) -> None:
            if "steps" in state:
                bar.total = state["steps"]
                bar.n = state["step"]
                bar.set_postfix(epoch=f"{state['epoch']}/{state['epochs']}", loss=state["loss"])
                bar.refresh()
            bar.set_description(f"{_progress(state)} {task}" if "steps" not in state else f"fine-tuning {task}")

        outcome = job.execute(store, settings, run_id, on_progress=show)
    if outcome is None:
        print((store.run(run_id) or {}).get("message", "training failed"), file=sys.stderr)
        return 1
    m = outcome["metrics"]
    print(_table([[name, "" if r.get("holdout") is None else f"{r['holdout']:.3f}",
                     "" if "seconds" not in r else f"{r['seconds']:.1f}", r.get("skipped", "")]
                    for name, r in m["ladder"].items()], headers=["rung", f"held-out {m['holdout']['metric']}",
                                                                  "train s", "note"]))
    print(f"{task} v{outcome['version']} ({m['rung']}): held-out {m['holdout']['metric']} "
          f"{m['holdout']['score']:.3f} (accuracy {m['holdout']['accuracy']:.3f}) against "
          f"{m['serving']['holdout']['score']:.3f} for {m['serving']['version']}; {m['train_seconds']:.0f} s")
    if m.get("int8_agreement") is not None:
        print(f"int8 agrees with fp32 on {m['int8_agreement']:.1%} of the held-out set")
    print(f"{'PROMOTED' if outcome['promoted'] else 'REJECTED'}: {outcome['reason']}")
    print(f"confusion matrix: {Path(outcome['folder']) / 'confusion.png'}")
    return 0


def cmd_taxonomy(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        if args.action == "propose":
            since = datetime.fromisoformat(args.since).replace(tzinfo=UTC).timestamp() if args.since else 0.0
            proposal = workflow.propose(store, settings, args.size or settings.taxonomy.size, args.user, since)
            out = Path(args.out or f"taxonomy-{proposal['id']}.toml")
            out.write_text(workflow.to_toml(proposal), encoding="utf-8")
            print(_table([[x["name"], x["size"], len(x["topics"]), neutral(x["description"])[:60],
                           neutral((x["examples"] or [""])[0])[:50]] for x in proposal["labels"]],
                         headers=["label", "items", "topics", "description", "example"]))
            print(f"\nproposal #{proposal['id']} written to {out}: edit it, then "
                  f"`lookout taxonomy accept {out} --task NAME`")
            return 0
        if not args.file or not args.task:
            raise ServiceError("accept needs the proposal file and --task NAME")
        proposal_id, labels = workflow.from_toml(Path(args.file).read_text(encoding="utf-8"))
        done = workflow.accept(store, settings, proposal_id, labels, args.task, args.user)
        print(f"task `{done.task}` created with labels {', '.join(done.labels)}")
        print(f"{done.kept} of the {done.labelled} newest items labelled automatically with confidence >= "
              f"{settings.taxonomy.min_confidence:g}"
              + (f" ({done.by_llm} by the LLM, the rest by the embeddings)" if done.by_llm else "") + ": "
              + ", ".join(f"{name} {done.per_label.get(name, 0)}" for name in done.labels))
        settings = workflow.with_stored_tasks(settings, store)
        if args.train:
            (_, run_id, _), = runs.request_retrain(store, settings, done.task, "taxonomy", args.user,
                                                             start=True)
            return _train_in_foreground(store, settings, done.task, run_id)
        (_, run_id, _), = runs.request_retrain(store, settings, done.task, "taxonomy", args.user)
        print(f"training run #{run_id} queued: a running daemon trains the task's classifier from these labels "
              f"(or run `lookout train {done.task}` now)")
    return 0


def cmd_models(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        if args.action == "list":
            _print_models(store, settings, args.task)
        elif args.action == "promote":
            if not args.task or not args.version:
                raise ServiceError("expected `models promote TASK VERSION`")
            row = runs.promote(store, settings, args.task, args.version, args.user)
            print(f"{args.task} v{row['version']} is now in service (a running daemon swaps it in within seconds)")
        else:
            if not args.task:
                raise ServiceError("expected `models rollback TASK`")
            previous = runs.rollback(store, settings, args.task, args.user)
            now = f"v{previous['version']}" if previous else "the zero-shot classifier"
            print(f"{args.task} is now served by {now}")
    return 0


def _print_models(store: Store, settings: Settings, task: str | None) -> None:
    if task:
        runs.task_spec(settings, task)
    serving = store.serving()
    for spec in settings.tasks:
        if task and spec.name != task:
            continue
        row = serving.get(spec.name)
        agree, compared = store.auto_label_agreement(spec.name)
        print(f"{spec.name}: served by {'v' + str(row['version']) if row else 'zero-shot'}"
              + (f" ({row['metrics'].get('rung', 'fine-tuned')}{', int8' if row['int8'] else ''})" if row else "")
              + (f"; automatic labels agree with {agree} of {compared} corrections ({agree / compared:.0%})"
                 if compared else ""))
    versions = store.versions(task)
    if versions:
        print()
        print(_table([[v["task"], f"v{v['version']}", v["metrics"].get("rung", "fine-tuned"), v["status"],
                         v["metrics"].get("holdout", {}).get("metric", ""),
                         f"{v['metrics'].get('holdout', {}).get('score', 0):.3f}", _rung_score(v, "zero-shot"),
                         f"{v['metrics'].get('serving', {}).get('holdout', {}).get('score', 0):.3f}",
                         _when(v["created_at"]), (v["reason"] or "")[:70]] for v in versions],
                       headers=["task", "version", "rung", "status", "metric", "held-out", "zero-shot",
                                "in service then", "trained (UTC)", "reason"]))
    recent = store.runs(task, limit=5)
    if recent:
        print()
        print(_table([[f"#{r['id']}", r["task"], r["status"], r["via"], _when(r["created_at"]),
                       (r["message"] or _progress(r["progress"]))[:80]] for r in recent],
                     headers=["run", "task", "status", "asked by", "asked (UTC)", "outcome"]))


def _rung_score(version: dict, rung: str) -> str:
    """A rung's held-out score in the run that made ``version`` (blank for runs before the ladder)."""
    found = version["metrics"].get("ladder", {}).get(rung, {}).get("holdout")
    return "" if found is None else f"{found:.3f}"


def _progress(state: dict) -> str:
    estimate = f" (at most about {minutes(state['estimate_seconds'])})" if "estimate_seconds" in state else ""
    if "steps" in state:
        return f"{state.get('rung', 'fine-tuned')} epoch {state['epoch']}/{state['epochs']}, step " \
               f"{state['step']}/{state['steps']}{estimate}"
    return " ".join(str(state[k]) for k in ("phase", "rung") if k in state) + estimate


# printing -----------------------------------------------------------------------------------------------------------
def _print_topics(store: Store, settings: Settings, limit: int, min_size: int | None = None) -> None:
    smallest = settings.topics.min_size if min_size is None else min_size
    topics = store.top_topics(limit, smallest)
    if not topics:
        print(f"no topic has {smallest} or more items yet")
        return
    titles = store.titles([t["representatives"][0][1] for t in topics if t["representatives"]])
    rows = [[f"#{t['id']}", t["name"] or "", t["size"], _when(t["first_seen"]), _when(t["last_seen"]),
             ", ".join(t["keywords"][:6]),
             neutral(titles.get(t["representatives"][0][1], "") if t["representatives"] else "")[:50]] for t in topics]
    print(_table(rows, headers=["topic", "name", "items", "first seen", "last seen", "keywords",
                                "most typical item"]))


def _print_tree(store: Store, settings: Settings, limit: int, min_size: int | None) -> None:
    smallest = settings.topics.min_size if min_size is None else min_size
    topics = service.topic_tree(store, settings, limit, smallest)
    if not topics:
        print(f"no topic has {smallest} or more items yet")
        return
    shown = {t["id"]: t for t in topics}
    for t in topics:
        if t["parent"] in shown:
            continue
        print(f"#{t['id']} {neutral(t['name'] or ', '.join(t['keywords'][:3]))} ({t['size']} items)")
        for child in t["children"]:
            c = shown.get(child)
            if c is not None:
                print(f"  └ #{c['id']} {neutral(c['name'] or ', '.join(c['keywords'][:3]))} ({c['size']} items)")

def _print_labels_rows(rows: list[dict]) -> None:
    print(_table([[r["task"], r["label"], r["n"], f"{r['confidence']:.2f}", r["unsure"]] for r in rows],
                 headers=["task", "label", "items", "mean confidence", "unsure"]))


def _print_labels(store: Store, settings: Settings) -> None:
    print()
    _print_labels_rows(store.status()["labels"])
    for task, n, agree in store.label_agreement({t.name: [x.name for x in t.labels] for t in settings.tasks}):
        print(f"task {task!r} agrees with the stream's own labels on {agree}/{n} items ({agree / n:.0%})")


# parser -------------------------------------------------------------------------------------------------------------
CommandAdder = Callable[..., argparse.ArgumentParser]


def build_parser(extra: Callable[[CommandAdder], None] | None = None) -> argparse.ArgumentParser:
    """The command line; ``extra`` may add commands (the Slack layer adds ``bot``) with the same helper."""
    parser = argparse.ArgumentParser(
        prog="lookout", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Lookout watches feeds and streams, labels and groups every item, and raises alerts "
                    "(to Slack when SLACK_BOT_TOKEN is set, else to the console).",
        epilog="examples:\n"
               "  lookout demo                          replay the bundled sample stream end to end\n"
               "  lookout run -c lookout.toml           run the daemon (start from lookout.example.toml)\n"
               "  lookout status                        sources, health, counts of items, labels and alerts\n"
               "  lookout topics -n 5                   the five largest topics\n"
               "  lookout items --label spam            the newest items labelled spam\n"
               "  lookout import mbox archive.mbox.gz   backfill a mailbox, with a progress bar\n"
               "  lookout labels import l.jsonl --task spam  add labelled training data\n"
               "  lookout train spam                    fine-tune the spam classifier now\n"
               "  lookout models list                   versions, scores and training runs\n"
               "  lookout settings                      every setting with its default and meaning\n"
               "\nEach command has its own --help.")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, func: Callable, help: str, config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        if config:
            p.add_argument("-c", "--config", default=os.environ.get("LOOKOUT_CONFIG"),
                           help="TOML settings file (default: $LOOKOUT_CONFIG, else ./lookout.toml if present)")
            p.add_argument("--db", help="SQLite store to use instead of store.path from the settings")
        return p

    p = command("run", cmd_run, "Run the daemon: poll every source, enrich every item, deliver alerts.")
    p.add_argument("--until-idle", action="store_true",
                   help="exit once finite sources are played, each feed polled once and all items handled")
    p = command("demo", cmd_demo, "Replay a real labelled stream (a SpamAssassin sample shipped with Lookout) "
                                  "through the whole pipeline with the bundled model.", config=False)
    p.add_argument("--data", help="JSONL file to replay instead (objects with `text`, optional `title`, `label`)")
    p.add_argument("--limit", type=int, default=0, help="replay at most this many lines (default: all)")
    p.add_argument("--rate", type=float, default=0.0, help="items per second (default 0: as fast as possible)")
    p.add_argument("--db", default=DEMO_DB, help=f"store to (re)create (default: {DEMO_DB})")
    p.add_argument("--topics", type=int, default=10, help="topics to show at the end (default: 10)")
    p = command("import", cmd_import, "Import an mbox file (.gz too) or a Maildir folder: every message is stored, "
                                      "labelled and put in a topic; a re-run resumes and skips what is stored.")
    p.add_argument("format", choices=["mbox", "maildir"], help="mailbox format")
    p.add_argument("path", help="the mbox file or Maildir folder")
    p.add_argument("--name", help="source name in the store (default: the file or folder name)")
    p.add_argument("--limit", type=int, default=0, help="import at most this many messages (default: all)")
    p.add_argument("--no-alerts", action="store_true", help="apply no alert rules (a quiet backfill)")
    p = command("status", cmd_status, "Show sources and their health, counts of items, labels and alerts.")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p = command("topics", cmd_topics, "Show the largest live topics with keywords and a typical item.")
    p.add_argument("-n", "--limit", type=int, default=15, help="how many topics (default: 15)")
    p.add_argument("--min-size", type=int, help="smallest topic shown (default: topics.min_size)")
    p.add_argument("--tree", action="store_true", help="sort the topics into topics.groups groups of related "
                                                       "ones, each under its largest")
    p = command("topic", cmd_topic, "Show one topic: keywords, typical items, and its history of merges and "
                                    "splits.")
    p.add_argument("topic", help="the topic number (12 or #12)")
    p.add_argument("--cloud", metavar="PNG", help=f"also draw a word cloud of its {CLOUD_WORDS} top keywords into PNG, "
                                                  "each word sized by its c-TF-IDF weight")
    p = command("item", cmd_item, "Show one item: title, source, link, labels, and how much it belongs to each "
                                  "topic (a softmax of the cosine similarities of its embedding to the live topics' "
                                  f"centres at temperature {DISTRIBUTION_TEMPERATURE:g}).")
    p.add_argument("item", help="item id, or its first six or more characters")
    p.add_argument("-n", "--top", type=int, default=5, metavar="N",
                   help="how many topics of its distribution (default: 5)")
    p = command("map", cmd_map, f"Draw a 2-D map of the stored items (PCA, then t-SNE from {PCA_DIMS} items on) "
                                "coloured by topic or label: map.png, and map.html, a page where hovering a point "
                                "shows the item.")
    p.add_argument("--out", metavar="DIR",
                   help="folder for map.png and map.html (default: digest.report_dir, else <store>.reports)")
    p.add_argument("--color", choices=["topic", "label"], default="topic",
                   help="colour by topic (the 20 largest on the map; the rest grey) or by the label of --task "
                        "(default: topic)")
    p.add_argument("--task", help="the task whose labels colour the map (needed when several tasks label items); "
                                  "with --color topic its label shows on hover")
    p.add_argument("--limit", type=int, default=5000, metavar="N", help="map the newest N items (default: 5000)")
    p = command("items", cmd_items, "List the newest enriched items, optionally with one label.")
    p.add_argument("--label", help="only items with this label")
    p.add_argument("--task", help="only labels of this task")
    p.add_argument("-n", "--limit", type=int, default=20, help="how many items (default: 20)")
    p = command("settings", cmd_settings, "List every setting with its default and meaning.", config=False)
    p.add_argument("--check", metavar="FILE", help="validate FILE instead, and say what is wrong")
    p = command("label", cmd_label, "Correct an item's label (the correction is kept for retraining).")
    p.add_argument("item", help="item id, or its first six or more characters")
    p.add_argument("label", help="the right label")
    p.add_argument("--task", help="the task, when several tasks have that label")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who corrects (default: $USER)")
    p = command("watch", cmd_watch, "List, add or remove feeds and keyword rules at run time (a running daemon "
                                    "picks changes up within seconds).")
    p.add_argument("action", choices=["list", "add", "remove"])
    p.add_argument("target", nargs="?", help="add: the feed URL; remove: the name")
    p.add_argument("--keyword", metavar="REGEX", help="add: a keyword alert rule with this regular expression "
                                                      "(matched like an [[alerts]] pattern; see `lookout settings`)")
    p.add_argument("--name", help="add: the name (default: made from the URL or regex)")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who adds it (default: $USER)")
    p = command("trends", cmd_trends, "Which topics rise above (or fall below) their own baseline or climb "
                                      "steadily, and how each label's rate moves, with a chart.")
    p.add_argument("--hours", type=float, default=24.0, help="how far back to look (default: 24)")
    p.add_argument("--bin-minutes", type=float, default=60.0, help="width of a time bin (default: 60)")
    p.add_argument("--warmup", type=int, default=6, help="bins of history a topic or label needs before it is "
                                                                   "scored")
    p.add_argument("--threshold", type=float, default=3.0, help="burst score that counts as rising or fading "
                                                                            "(default: 3); labels are all listed")
    p.add_argument("-n", "--limit", type=int, default=10, help="topics, climbs and labels listed; topics charted "
                                                                      "(default: 10)")
    p.add_argument("--chart", metavar="PNG", help="also draw the busiest topics' counts over time into PNG")
    p = command("labels", cmd_labels, "Import labelled texts (JSONL or CSV) as training data for a task.")
    p.add_argument("action", choices=["import"])
    p.add_argument("file", help="a .jsonl file (one object per line) or a .csv file with a header row")
    p.add_argument("--task", required=True, help="the task the labels belong to")
    p.add_argument("--create", action="store_true", help="create the task from the file's labels when there is no "
                                                         "such task (labels: lower-case letters, digits, - and _)")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who creates the task (default: $USER)")
    p.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    p.add_argument("--label-field", default="label", help="field holding the label (default: label)")
    p.add_argument("--split-field", default="split",
                   help="optional field naming the split: train, val or test (test rows join the held-out set; "
                        "default: split)")
    p = command("train", cmd_train, "Fine-tune a task's classifier now, with a progress bar; the new version serves "
                                    "only if it beats the model in service.")
    p.add_argument("task", nargs="?", help="the task (default: every task)")
    p.add_argument("--epochs", type=int, default=0, help="override training.epochs for this run (with --search: "
                                                          "the most epochs a trial may take)")
    p.add_argument("--search", type=int, default=0, metavar="N",
                   help="instead of training, run N trials of a hyper-parameter search (Optuna) on the training and "
                        "validation splits, record them, and print the best parameters as [training] lines")
    p.add_argument("--request", action="store_true", help="only queue the run for the running daemon")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who asks (default: $USER)")
    p = command("models", cmd_models, "List model versions and training runs, promote a version, or roll back.")
    p.add_argument("action", choices=["list", "promote", "rollback"])
    p.add_argument("task", nargs="?", help="the task")
    p.add_argument("version", nargs="?", help="promote: the version (3 or v3)")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who does it (default: $USER)")
    p = command("taxonomy", cmd_taxonomy, "Propose labels for a new task from the stored topics, then accept the "
                                          "edited proposal as a task trained on automatic labels.")
    p.add_argument("action", choices=["propose", "accept"])
    p.add_argument("file", nargs="?", help="accept: the proposal file, as edited")
    p.add_argument("--size", type=int, default=0, help="propose: how many labels (default: taxonomy.size)")
    p.add_argument("--from", dest="since", metavar="DATE",
                   help="propose: only topics seen since DATE (ISO 8601, UTC), e.g. 2026-11-01")
    p.add_argument("--out", help="propose: the file to write (default: taxonomy-<id>.toml)")
    p.add_argument("--task", help="accept: the new task's name")
    p.add_argument("--train", action="store_true", help="accept: train the task's classifier now, with a progress "
                                                         "bar (default: queue it for the daemon)")
    p.add_argument("--user", default=os.environ.get("USER", "cli"), help="who does it (default: $USER)")
    p = command("digest", cmd_digest, "Summarise a period: rising, fading and busiest topics and how the labels "
                                      "moved, as text plus a PNG chart and an HTML page.")
    p.add_argument("--hours", type=float, default=0, help="the period (default: digest.hours)")
    p.add_argument("--history", type=int, default=0, help="earlier periods compared with (default: digest.history)")
    p.add_argument("--out", help="folder for the chart and page (default: digest.report_dir)")
    p.add_argument("--send", action="store_true",
                   help="deliver it like the scheduled digest (Slack when SLACK_BOT_TOKEN is set)")
    p = command("search", cmd_search, "Find stored items nearest in meaning to some words.")
    p.add_argument("words", nargs="+", help="what to look for")
    p.add_argument("-n", "--limit", type=int, default=5, help="how many results (default: 5)")
    if extra:
        extra(command)
    return parser


def main(argv: list[str] | None = None, notifier_factory: NotifierFactory | None = None,
         extra: Callable[[CommandAdder], None] | None = None) -> int:
    args = build_parser(extra).parse_args(argv)
    daemon = args.command in ("run", "bot")
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose + daemon, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("apscheduler", "httpx", "sentence_transformers", "transformers"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    try:
        return args.func(args, notifier_factory or console_notifier)
    except ConfigError as exc:
        print(f"lookout: configuration error: {exc}", file=sys.stderr)
        return 2
    except ServiceError as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"lookout: {exc}", file=sys.stderr)
        return 2
