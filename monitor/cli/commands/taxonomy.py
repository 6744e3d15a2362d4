"""`lookout taxonomy`: propose labels for a new task from the topics, and accept the edited proposal."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path

from monitor.cli.commands.train import train_in_foreground
from monitor.cli.common import CommandAdder, NotifierFactory, load_cli_settings, table
from monitor.ingest.text import neutral
from monitor.learning import runs
from monitor.service import ServiceError
from monitor.store.db import Store
from monitor.taxonomy import workflow


def add(command: CommandAdder) -> None:
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


def cmd_taxonomy(args: argparse.Namespace, _: NotifierFactory) -> int:
    settings = load_cli_settings(args)
    with Store(settings.store.path) as store:
        if args.action == "propose":
            since = datetime.fromisoformat(args.since).replace(tzinfo=UTC).timestamp() if args.since else 0.0
            proposal = workflow.propose(store, settings, args.size or settings.taxonomy.size, args.user, since)
            out = Path(args.out or f"taxonomy-{proposal['id']}.toml")
            out.write_text(workflow.to_toml(proposal), encoding="utf-8")
            print(table([[x["name"], x["size"], len(x["topics"]), neutral(x["description"])[:60],
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
            run_id = runs.request_retrain(store, settings, done.task, "taxonomy", args.user, start=True)[0][1]
            return train_in_foreground(store, settings, done.task, run_id)
        run_id = runs.request_retrain(store, settings, done.task, "taxonomy", args.user)[0][1]
        print(f"training run #{run_id} queued: a running daemon trains the task's classifier from these labels "
              f"(or run `lookout train {done.task}` now)")
    return 0
