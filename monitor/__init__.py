"""The Lookout daemon: sources, the durable store, the pipeline, alert rules and notifiers (no Slack UI here)."""
