"""Every setting with its default and help text, for ``lookout settings`` and the README."""

from __future__ import annotations

from dataclasses import MISSING, fields

from monitor.config.schema import SECTIONS, LabelSettings, lists


def reference() -> list[tuple[str, str, str]]:
    """Every setting as ``(key, default, help)``, in file order (for ``lookout settings`` and the README)."""
    rows: list[tuple[str, str, str]] = []
    for section, cls in [*SECTIONS.items(), *lists().items(), ("tasks.labels", LabelSettings)]:
        prefix = f"[{section}]" if section in SECTIONS else f"[[{section}]]"
        for f in fields(cls):
            if f.default is not MISSING:
                default = repr(f.default).replace("'", '"')
            elif f.default_factory is not MISSING:
                default = repr(list(f.default_factory())).replace("'", '"')
            else:
                default = "(required)"
            rows.append((f"{prefix} {f.name}", default, f.metadata["help"]))
    rows.append(("env SLACK_BOT_TOKEN", "", "Slack bot token (xoxb-...); without it alerts go to the console."))
    rows.append(("env SLACK_SIGNING_SECRET", "", "Slack app signing secret; `lookout bot` verifies every request "
                                                 "with it."))
    rows.append(("env SLACK_APP_TOKEN", "", "App-level token (xapp-...) for `bot.mode = \"socket\"`."))
    rows.append(("env LOOKOUT_WEBHOOK_SECRET", "", "HMAC-SHA256 key: POST /ingest needs `X-Lookout-Signature: "
                                                   "sha256=<hex of the body's HMAC>`."))
    rows.append(("env LOOKOUT_WEBHOOK_TOKEN", "", "Bearer token accepted by POST /ingest instead of a signature."))
    return rows
