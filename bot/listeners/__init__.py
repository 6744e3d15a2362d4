"""Bolt listeners, one module per kind of request: slash commands, alert buttons, the taxonomy's messages and
modals, and events (App Home, mentions, direct messages). Each module has ``register(app, bot)``."""
