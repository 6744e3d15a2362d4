"""Lookout's Slack face: alert messages (Block Kit) and the ``lookout`` command's Slack wiring."""
