"""The durable store: one SQLite file (``db``) and its schema migrations (``migrations``)."""
