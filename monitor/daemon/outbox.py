"""The alert outbox: one sender per channel with pending alerts, each alert marked ``sending`` just before it goes
and its outcome recorded just after, so a crash resends nothing and leaves at most one alert ``unknown``.

An alert about a topic that already alerted in the channel within ``slack.thread_hours`` goes into the first
alert's thread; where it was posted is recorded with its outcome, in one transaction. The first message's count is
then redrawn in place from what is stored, so a redraw that fails or a stop before it is made good by the next
follow-up or at the next start (a redraw may repeat, a post never does)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from monitor.daemon.notify import DeliveryError, Posted
from monitor.daemon.state import DaemonState
from monitor.enrich.alerts import Alert
from monitor.store.threads import Thread

log = logging.getLogger(__name__)
IDLE_WAIT = 1.0
RETRY_LATER_SECONDS = 5.0
OUTBOX_BATCH = 200


async def wait_up_to(event: asyncio.Event, timeout: float) -> None:
    """Wait for ``event``, for at most ``timeout`` seconds."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), timeout)


class Outbox(DaemonState):
    """The ``Daemon``'s part that delivers alerts (a mixin: the state is the daemon's)."""

    async def _deliver(self) -> None:
        """Keep one sender per channel that has pending alerts; once closing, let them deliver what is pending."""
        senders: dict[str, asyncio.Task[None]] = {}
        if self._threading:
            for thread in await self.store.call(self.store.stale_threads, self._thread_since()):
                await self._redraw(thread)
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

    @property
    def _threading(self) -> bool:
        return self.settings.slack.thread_hours > 0

    def _thread_since(self) -> float:
        return time.time() - self.settings.slack.thread_hours * 3600

    async def _send(self, alert_id: int, alert: Alert) -> bool:
        """Send one alert (in its topic's thread when the channel has one), marked ``sending`` just before and its
        outcome recorded just after, so a crash leaves at most this one alert of its channel ``unknown``; False
        when it must be tried again later."""
        await self.notifier.ready(alert.channel)
        thread = await self.store.call(self.store.thread_for, alert.channel, alert.topic_id,
                                       self._thread_since()) if self._threading else None
        await self.store.call(self.store.start_alert, alert_id)
        try:
            posted = await self.notifier.send(alert, thread.ts if thread else "")
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
        posted = posted or Posted("", "")
        now_in = await self.store.call(self.store.alert_posted, alert_id, alert, posted.channel, posted.ts, thread,
                                       self._threading)
        if now_in is not None and now_in.count > now_in.shown:
            await self._redraw(now_in)
        return True

    async def _redraw(self, thread: Thread) -> None:
        """Show the thread's count on its first message; a failure is logged and left for the next follow-up."""
        root, latest = await self.store.call(self.store.thread_alerts, thread)
        try:
            await self.notifier.update_thread(root, latest, Posted(thread.posted_channel, thread.ts), thread.count)
        except DeliveryError as exc:
            log.warning("the first alert about topic #%d in %s still shows an older count: %s", thread.topic_id,
                        thread.channel, exc)
            return
        await self.store.call(self.store.thread_shown, thread.id, thread.count)
