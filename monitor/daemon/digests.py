"""The daemon's digest job: posted on the schedule in force (the one set from Slack, else ``digest.cron``), in the
team's time zone; a schedule changed from Slack is picked up within ``SCHEDULE_SYNC_SECONDS``."""

from __future__ import annotations

import logging

from monitor.daemon.notify import DeliveryError
from monitor.daemon.schedule import digest_cron, stored_schedule, trigger
from monitor.daemon.state import DaemonState
from monitor.reports import digest as digests

log = logging.getLogger(__name__)
SCHEDULE_SYNC_SECONDS = 5.0


class DigestJobs(DaemonState):
    """The ``Daemon``'s part that sends digests (a mixin: the state is the daemon's)."""

    _digest_cron: str | None = None

    async def send_digest(self) -> digests.Digest:
        """Build the trend digest of the last ``digest.hours``, write its chart and HTML page, and deliver it. It is
        read and drawn on a reader thread, so the writer goes on committing batches meanwhile."""
        d = self.settings.digest
        folder = digests.report_dir(self.settings.store.path, d.report_dir)
        digest = await self.store.read(digests.build, self.store, d.hours, d.history, d.limit, folder)
        digests.write(digest, folder)
        try:
            await self.notifier.digest(digest, d.channel or self.settings.slack.channel)
        except DeliveryError as exc:
            log.warning("the digest was not delivered: %s", exc)
        return digest

    async def _schedule_digest(self) -> None:
        """Schedule the digest now, and follow the schedule set from Slack from then on."""
        assert self._scheduler is not None
        await self._sync_digest()
        self._scheduler.add_job(self._sync_digest, "interval", seconds=SCHEDULE_SYNC_SECONDS, id="digest-schedule",
                                max_instances=1, coalesce=True)

    async def _sync_digest(self) -> None:
        """(Re)schedule the ``digest`` job when the schedule in force changed; no job while there is none."""
        assert self._scheduler is not None
        cron = digest_cron(self.settings, await self.store.read(stored_schedule, self.store))
        if cron == self._digest_cron:
            return
        self._digest_cron = cron
        if self._scheduler.get_job("digest"):
            self._scheduler.remove_job("digest")
        if cron:
            self._scheduler.add_job(self.send_digest, trigger(cron, self.settings), id="digest", max_instances=1,
                                    coalesce=True)
            log.info("the digest goes out on `%s` (%s)", cron, self.settings.time.timezone)
        else:
            log.info("no digest is scheduled")
