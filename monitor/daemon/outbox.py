"""The alert outbox: one sender per channel with pending alerts, each alert marked ``sending`` just before it goes
and its outcome recorded just after, so a crash resends nothing and leaves at most one alert ``unknown``."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from monitor.daemon.notify import DeliveryError
from monitor.enrich.alerts import Alert

log = logging.getLogger(__name__)
IDLE_WAIT = 1.0
RETRY_LATER_SECONDS = 5.0
OUTBOX_BATCH = 200


async def wait_up_to(event: asyncio.Event, timeout: float) -> None:
    """Wait for ``event``, for at most ``timeout`` seconds."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


class Outbox:
    """The ``Daemon``'s part that delivers alerts (a mixin: the state is the daemon's)."""

    async def _deliver(self) -> None:
        """Keep one sender per channel that has pending alerts; once closing, let them deliver what is pending."""
        senders: dict[str, asyncio.Task[None]] = {}
        while True:
            self._outbox_wake.clear()
            for channel in [c for c, task in senders.items() if task.done()]:
                senders.pop(channel).result()
            for channel in await self.store.call(self.store.pending_channels):
                if channel not in senders:
                    senders[channel] = asyncio.create_task(self._send_channel(channel))
            if self._closing.is_set():
                await asyncio.gather(*senders.values())
                return
            await wait_up_to(self._outbox_wake, IDLE_WAIT)

    async def _send_channel(self, channel: str) -> None:
        """Deliver ``channel``'s pending alerts in order, one at a time, until none is left (or, once closing, until
        Slack asks to wait)."""
        while batch := await self.store.call(self.store.pending_alerts, channel, OUTBOX_BATCH):
            for alert_id, alert in batch:
                if not await self._send(alert_id, alert):
                    await wait_up_to(self._closing, RETRY_LATER_SECONDS)
                    if self._closing.is_set():
                        return
                    break

    async def _send(self, alert_id: int, alert: Alert) -> bool:
        """Send one alert, marked ``sending`` just before and its outcome recorded just after, so a crash leaves at
        most this one alert of its channel ``unknown``; False when it must be tried again later."""
        await self.notifier.ready(alert.channel)
        await self.store.call(self.store.start_alert, alert_id)
        try:
            await self.notifier.send(alert)
        except DeliveryError as exc:
            if exc.unsure:
                log.warning("alert %d (%s) may or may not have reached %s, and is not sent again (see `lookout "
                            "status`): %s", alert_id, alert.rule, alert.channel, exc)
                await self.store.call(self.store.alert_unknown, alert_id, str(exc))
                return True
            if not exc.permanent:
                log.warning("alert %d (%s) delivery will be retried: %s", alert_id, alert.rule, exc)
                await self.store.call(self.store.release_alert, alert_id)
                return False
            log.error("alert %d (%s) could not be delivered: %s", alert_id, alert.rule, exc)
            await self.store.call(self.store.finish_alert, alert_id, str(exc))
            return True
        await self.store.call(self.store.finish_alert, alert_id)
        return True
