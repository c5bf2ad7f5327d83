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

from imagechat.core import auth, organise, providers, queue, recovery, runner
from imagechat.core.queue import ACTOR, QUEUE, get_broker
from imagechat.logs import configure_logging
from imagechat.settings import get_settings

# Dramatiq imports this module in each worker process after its own logging.basicConfig: replace that with ours.
configure_logging("worker")
log = logging.getLogger("imagechat.worker")
broker = get_broker()


class WorkerHousekeeping(Middleware):
    """Each worker process announces itself (so the app can tell users when no worker runs),
    periodically repairs what faults left behind (recovery.reconcile), purges expired sessions and
    deleted images past their undo window, and closes its engines
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
        reconcile_every = max(1.0, min(5.0, get_settings().job_stale_after_s / 3))
        next_reconcile = time.monotonic() + reconcile_every
        while True:
            try:
                queue.worker_heartbeat(worker_id)
                if time.monotonic() >= next_reconcile:
                    next_reconcile = time.monotonic() + reconcile_every
                    recovery.reconcile()
                auth.purge_expired_sessions_if_due()
                organise.purge_deleted_if_due()  # images deleted more than the undo window ago
            except Exception:  # Redis or the database may be briefly away; try again next tick
                log.exception("worker housekeeping failed")
            if self._stop.wait(queue.WORKER_BEAT_S):
                return


broker.add_middleware(WorkerHousekeeping(), before=AsyncIO)


def _infra_error(retries: int, exc: Exception) -> bool:
    """Retry the message while PostgreSQL or Redis is away (with Dramatiq's backoff); nothing else."""
    return retries < 30 and isinstance(exc, runner.INFRA_ERRORS)


@dramatiq.actor(actor_name=ACTOR, queue_name=QUEUE, retry_when=_infra_error, min_backoff=500, max_backoff=15_000,
                time_limit=(get_settings().job_time_limit_s + 60) * 1000)
async def generate_image(job_id: str) -> None:
    # Engine retries, time limits and failures are handled inside run_job, which leaves the job in a
    # terminal state or requeued; only an outage of PostgreSQL or Redis makes this message retry.
    await runner.run_job(job_id)
