"""The daemon: the core loop and its worker (``core``), sources and the webhook (``ingest``), the alert outbox
(``outbox``) with the ``Notifier`` it delivers through (``notify``), and the learning jobs (``learning``)."""
