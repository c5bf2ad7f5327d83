"""Dramatiq actors. Start workers with `python -m workers` (it tunes polling first)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import dramatiq
from dramatiq.asyncio import get_event_loop_thread
from dramatiq.middleware import AsyncIO, Middleware

from imagechat.core import jobs, providers, queue, runner
from imagechat.core.queue import ACTOR, QUEUE, get_broker
from imagechat.settings import get_settings

log = logging.getLogger("imagechat.worker")
broker = get_broker()


class WorkerHousekeeping(Middleware):
    """Each worker process announces itself (so the app can tell users when no worker runs),
    periodically recovers jobs whose worker died (jobs.reconcile_stale_jobs), and closes its engines
    when it stops (their HTTP pools live on the AsyncIO middleware's event loop, stopped after us)."""

    def after_worker_boot(self, broker, worker):
        self._stop = threading.Event()
        threading.Thread(target=self._loop, name="housekeeping", daemon=True).start()

    def before_worker_shutdown(self, broker, worker):
        self._stop.set()

    def after_worker_shutdown(self, broker, worker):
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(providers.close_all())

    def _loop(self) -> None:
        worker_id = f"{socket.gethostname()}:{os.getpid()}"
        reconcile_every = max(1.0, get_settings().job_stale_after_s / 3)
        next_reconcile = time.monotonic() + reconcile_every
        while True:
            try:
                queue.worker_heartbeat(worker_id)
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + reconcile_every
                    jobs.reconcile_stale_jobs()
            except Exception:  # Redis or the database may be briefly away; try again next tick
                log.exception("worker housekeeping failed")
            if self._stop.wait(queue.WORKER_BEAT_S):
                return


broker.add_middleware(WorkerHousekeeping(), before=AsyncIO)


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, max_retries=0,
                time_limit=(get_settings().job_time_limit_s + 60) * 1000)
async def generate_image(job_id: str) -> None:
    # Retries, time limits and failures are handled inside run_job, which always leaves the job
    # in a terminal state or requeued; the broker-level limits are only a backstop.
    await runner.run_job(job_id)
