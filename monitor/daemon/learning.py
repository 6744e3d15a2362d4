"""The daemon's learning jobs: tasks accepted at run time, scheduled and correction-driven retraining, one training
process at a time, hot swaps of promoted versions, progress notes, and the daily questions (active learning)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import datetime
from functools import partial

from models.classifier import ZeroShotClassifier
from models.registry import ModelLoadError
from monitor.daemon.notify import DeliveryError, Question
from monitor.daemon.schedule import trigger
from monitor.daemon.state import DaemonState
from monitor.enrich.build import load_classifier, serve_or_zero_shot
from monitor.learning import job
from monitor.learning.runs import request_retrain, task_specs
from monitor.taxonomy.workflow import with_stored_tasks

log = logging.getLogger(__name__)
LEARNING_TICK_SECONDS = 2.0


class LearningJobs(DaemonState):
    """The ``Daemon``'s part that runs the learning loop (a mixin: the state is the daemon's)."""

    async def _sync_tasks(self) -> None:
        """Serve the tasks accepted at run time (``lookout taxonomy accept``, Slack), zero-shot until trained."""
        current = await self.store.call(with_stored_tasks, self.settings, self.store)
        known = {t.name for t in self.settings.tasks}
        added = [t for t in task_specs(current) if t.name not in known]
        if not added:
            return
        self.settings = current
        for task in added:
            classifier = await asyncio.get_running_loop().run_in_executor(
                self._compute, serve_or_zero_shot, current, task, None, self.pipeline.encode)
            await self._between_batches(partial(self.pipeline.serve, classifier))
            log.info("now classifying task %s (%s)", task.name, ", ".join(task.label_names))

    def _schedule_learning(self) -> None:
        """Schedule the learning jobs whether or not any task exists yet: each run reads the tasks of the moment,
        so a task accepted at run time is retrained and asked about like a configured one. Crontab schedules fire
        in ``time.timezone``."""
        assert self._scheduler is not None
        s = self.settings.learning
        self._scheduler.add_job(self._learning_tick, "interval", seconds=LEARNING_TICK_SECONDS, id="learning",
                                max_instances=1, coalesce=True, next_run_time=datetime.now(self._scheduler.timezone))
        if s.min_new_corrections:
            self._scheduler.add_job(self._retrain_if_corrected, "interval", seconds=s.check_minutes * 60,
                                    id="corrections", max_instances=1, coalesce=True)
        if s.cron:
            self._scheduler.add_job(self._retrain_on_schedule, trigger(s.cron, self.settings), id="retrain-cron",
                                    max_instances=1, coalesce=True)
        if s.ask_cron:
            self._scheduler.add_job(self.ask, trigger(s.ask_cron, self.settings), id="ask", max_instances=1,
                                    coalesce=True)

    async def _request(self, task: str | None, via: str) -> None:
        for name, run_id, new in await self.store.call(request_retrain, self.store, self.settings, task, via):
            if new:
                log.info("training run #%d of %s requested (%s)", run_id, name, via)

    async def _retrain_on_schedule(self) -> None:
        """``learning.cron``: ask for a run of every task there is now (none yet: nothing to do)."""
        if self.settings.tasks:
            await self._request(None, "schedule")

    async def _retrain_if_corrected(self) -> None:
        """Ask for a run of every task with ``learning.min_new_corrections`` corrections since its last run."""
        for task in self.settings.tasks:
            since = await self.store.call(self.store.last_run_at, task.name)
            n = await self.store.call(self.store.count_corrections_since, task.name, since)
            if n >= self.settings.learning.min_new_corrections:
                await self._request(task.name, f"{n} new corrections")

    async def _learning_tick(self) -> None:
        await self._serve_promoted()
        await self._watch_trainer()
        await self._relay_notes()

    async def _serve_promoted(self) -> None:
        """Hot swap: serve each task's promoted version. The swap happens on the compute thread between batches,
        so a batch is labelled by one model or the other, never half and half."""
        serving = await self.store.call(self.store.serving)
        loop = asyncio.get_running_loop()
        for task in task_specs(self.settings):
            row = serving.get(task.name)
            want = f"v{row.version}" if row else ZeroShotClassifier.version
            have = next(c.version for c in self.pipeline.classifiers if c.task.name == task.name)
            if want == have:
                continue
            try:
                classifier = await loop.run_in_executor(self._compute, load_classifier, self.settings, task, row,
                                                        self.pipeline.encode)
            except ModelLoadError as exc:
                log.error("task %s: %s cannot be served, %s stays in service: %s", task.name, want, have, exc)
                if row is not None:
                    await self.store.call(self.store.set_version_status, task.name, row.version, "broken",
                                          str(exc))
                if have != ZeroShotClassifier.version:
                    await self.store.call(self.store.promote, task.name, int(have[1:]), f"kept: {want} is broken")
                continue
            await loop.run_in_executor(self._compute, self.pipeline.serve, classifier)
            log.info("task %s is now served by %s (was %s)", task.name, want, have)

    async def _watch_trainer(self) -> None:
        """Start the next requested training run when none is running (in a process of its own, or queued for the
        workers with ``[workers] train``); record a run whose process died."""
        remote = self._handoff.training if self._handoff is not None else None
        if remote is not None and await remote.busy():
            return
        if self._trainer is not None:
            if self._trainer.is_alive():
                return
            code = self._trainer.exitcode
            run = await self.store.call(self.store.run, self._trainer_run)
            if run and run.status == "running":
                why = " (killed: out of memory?)" if code == -signal.SIGKILL else ""
                await self.store.call(self.store.finish_run, self._trainer_run, "failed",
                                      f"{run.task}: the training process exited with code {code}{why}; the model "
                                      "in service stays")
            self._trainer = None
        run = await self.store.call(self.store.claim_run)
        if run is not None and remote is not None:
            await remote.queue(self.settings, run)
        elif run is not None:
            self._trainer_run = run.id
            self._trainer = job.start(self.settings, run.id)
            log.info("training run #%d of %s started (pid %s)", run.id, run.task, self._trainer.pid)

    async def _relay_notes(self) -> None:
        """Pass what training runs report on to the people following them (a Slack thread, or the console)."""
        for run in await self.store.call(self.store.unsent_notes):
            channel = run.channel or self.settings.slack.channel
            thread, sent = run.thread, run.notes_sent
            try:
                if not thread:
                    thread = await self.notifier.note(f"Training run #{run.id} of {run.task}", channel, "")
                for text in run.notes[sent:]:
                    await self.notifier.note(text, channel, thread)
                    sent += 1
            except DeliveryError as exc:
                log.warning("training run #%d: a progress note was not delivered: %s", run.id, exc)
                if exc.permanent:
                    sent = len(run.notes)
            await self.store.call(self.store.notes_sent, run.id, sent, channel, thread)

    async def ask(self) -> int:
        """Active learning: put to the team the items of today each task's model was least sure of, picked by
        ``learning.ask_strategy``; returns how many."""
        s = self.settings.learning
        asked = 0
        for task in task_specs(self.settings):
            rows = await self.store.call(self.store.least_sure, task.name, time.time() - 86400, s.ask_budget,
                                         s.ask_strategy)
            if not rows:
                continue
            try:
                await self.notifier.ask(Question(task.name, task.label_names, rows,
                                                 s.ask_channel or self.settings.slack.channel))
            except DeliveryError as exc:
                log.warning("questions about %s were not delivered: %s", task.name, exc)
                continue
            await self.store.call(self.store.record_questions, task.name, rows)
            asked += len(rows)
        return asked
