"""Dramatiq actors. Start workers with `python -m workers` (it tunes polling first)."""

from __future__ import annotations

import logging
import threading

import dramatiq
from dramatiq.middleware import Middleware

from imagechat.core import jobs, runner
from imagechat.core.queue import ACTOR, QUEUE, get_broker
from imagechat.settings import get_settings

log = logging.getLogger("imagechat.worker")
broker = get_broker()


class StaleJobReconciler(Middleware):
    """Each worker process periodically recovers jobs whose worker died (see jobs.reconcile_stale_jobs)."""

    def after_worker_boot(self, broker, worker):
        self._stop = threading.Event()
        interval = max(1.0, get_settings().job_stale_after_s / 3)
        threading.Thread(target=self._loop, args=(interval,), name="reconciler", daemon=True).start()

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()

    def _loop(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                jobs.reconcile_stale_jobs()
            except Exception:  # the database may be briefly away; try again next tick
                log.exception("stale-job reconciliation failed")


broker.add_middleware(StaleJobReconciler())


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=0,
                time_limit=(get_settings().job_time_limit_s + 60) * 1000)
async def generate_image(job_id: str) -> None:
    # Retries, time limits and failures are handled inside run_job, which always leaves the job
    # in a terminal state or requeued; the broker-level limits are only a backstop.
    await runner.run_job(job_id)
