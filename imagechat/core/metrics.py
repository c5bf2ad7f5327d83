"""Prometheus metrics (the text /metrics serves, api/health.py), computed when scraped from PostgreSQL and Redis.

Why at scrape time and not with prometheus_client's usual in-process counters: the web app runs as several
Granian worker processes and the jobs run in separate Dramatiq worker processes; a scrape reaches one web process,
whose own counters would show only what passed through it. PostgreSQL and Redis hold the truth for every process,
so each scrape reads it there, and any web process gives the same answer:

- PostgreSQL, one transaction with a statement timeout (QUERY_TIMEOUT_MS): jobs by status; the queue
  (core.admin.queue_figures, as /admin shows it); generation time (started -> finished) of every succeeded job
  as a histogram per engine; the ledger's charged cost per engine and model, and outstanding reservations;
  answers from the library (request cache hits, core/cache.py) and what they saved (core.usage's expressions).
- Redis: workers alive (core.queue.workers_alive) and the progress fan-out latency, publish -> a tab's state,
  which the web processes record as they deliver (core.progress.FANOUT, a histogram kept in Redis because no
  single process sees all deliveries: core/redis_histogram.py).

Totals (cost, library answers, the histograms) count what the database holds, so they are Prometheus counters
that only drop when an account and its rows are deleted (Prometheus reads that as a reset). Jobs by status is a
gauge: a job moves from one status to the next.

Cost: four queries: jobs by status (an index-only scan when it can), the queue (only queued and running rows),
one pass over the succeeded jobs and one over the ledger, plus two Redis commands. The two passes grow with the
history, about a microsecond a row (benchmarks/bench_metrics.py; README "Health and metrics"). Scrapes in one
process run one at a time, so a burst of scrapes never runs the queries in parallel; only administrators and
local clients may scrape.
A source that does not answer leaves its families out and sets imagechat_metrics_source_up{source} to 0: the
scrape itself still succeeds, so Prometheus can alert on it.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString
from redis.exceptions import RedisError
from sqlalchemy import func
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from imagechat.core import admin, progress, queue, usage
from imagechat.core.errors import ServiceUnavailable
from imagechat.core.redis_client import client
from imagechat.db import session_scope
from imagechat.models import GenerationJob, JobStatus, LedgerStatus, UsageEntry, utcnow

log = logging.getLogger(__name__)

QUERY_TIMEOUT_MS = 5000
GENERATION_BOUNDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0)
PREFIX = "imagechat_"


def _jobs(s: Session) -> Iterator[Metric]:
    counts = {str(status): 0 for status in JobStatus}
    for status, n in s.exec(select(GenerationJob.status, func.count()).group_by(GenerationJob.status)):
        counts[status] = int(n)
    jobs = GaugeMetricFamily(PREFIX + "jobs", "Generation jobs in the database by status", labels=["status"])
    for status, n in counts.items():
        jobs.add_metric([status], n)
    yield jobs

    q = admin.queue_figures(s, utcnow())
    yield GaugeMetricFamily(PREFIX + "queue_depth", "Jobs waiting to run: on the queue, or held back while "
                                                     "their owner's other jobs run", value=q.queued)
    yield GaugeMetricFamily(PREFIX + "queue_held", "Of the waiting jobs, those held back for fair scheduling",
                            value=q.held)
    yield GaugeMetricFamily(PREFIX + "queue_oldest_age_seconds", "Age of the oldest waiting job (0: none waits)",
                            value=q.oldest_queued_s or 0.0)


def _generation_time(s: Session) -> Iterator[Metric]:
    """One pass over the succeeded jobs: each falls in one bucket, counted per engine and bucket, accumulated here.

    Bucket i is the first bound >= the job's seconds (len(bounds): +Inf), as Prometheus buckets include their
    upper bound. PostgreSQL's width_bucket includes the lower one, so it runs on the negated bounds, reversed.
    date_part (float8) rather than extract (numeric): three times cheaper per row."""
    job = GenerationJob
    done = (select(job.engine, func.greatest(0.0, func.date_part("epoch", job.finished_at - job.started_at))
                   .label("seconds"))
            .where(job.status == JobStatus.SUCCEEDED, job.started_at.is_not(None), job.finished_at.is_not(None))
            .subquery())
    negated = sa.cast(postgresql.array([-b for b in reversed(GENERATION_BOUNDS)]), postgresql.ARRAY(sa.Float))
    bucket = (len(GENERATION_BOUNDS) - func.width_bucket(-done.c.seconds, negated)).label("bucket")
    rows = s.exec(select(done.c.engine, bucket, func.count(), func.sum(done.c.seconds))
                  .group_by(done.c.engine, bucket)).all()
    per_engine: dict[str, list[int]] = {}
    sums: dict[str, float] = {}
    for engine, index, n, total_s in rows:
        per_engine.setdefault(engine, [0] * (len(GENERATION_BOUNDS) + 1))[index] += int(n)
        sums[engine] = sums.get(engine, 0.0) + float(total_s)
    family = HistogramMetricFamily(PREFIX + "generation_seconds", "Time from a worker starting a job to its "
                                   "images being stored, of every succeeded job", labels=["engine"])
    for engine in sorted(per_engine):
        *upto, total = itertools.accumulate(per_engine[engine])
        buckets = [(floatToGoString(b), n) for b, n in zip(GENERATION_BOUNDS, upto, strict=True)]
        family.add_metric([engine], [*buckets, ("+Inf", total)], sums[engine])
    yield family


def _ledger(s: Session) -> Iterator[Metric]:
    """One pass over the ledger: charged and reserved cost per engine and model, and the answers from the library
    (core.usage's expressions, as /usage counts them)."""
    entry = UsageEntry
    answer = (entry.status != LedgerStatus.RELEASED) & usage.CACHED_ANSWER
    rows = s.exec(select(entry.engine, entry.model,
                         func.coalesce(func.sum(entry.amount_usd).filter(entry.status == LedgerStatus.CHARGED), 0.0),
                         func.coalesce(func.sum(entry.amount_usd).filter(entry.status == LedgerStatus.RESERVED), 0.0),
                         func.count().filter(answer), func.coalesce(func.sum(usage.SAVED_USD).filter(answer), 0.0))
                  .group_by(entry.engine, entry.model).order_by(entry.engine, entry.model)).all()
    charged = CounterMetricFamily(PREFIX + "cost_usd", "Cost charged on the ledger, US dollars",
                                  labels=["engine", "model"])
    reserved = GaugeMetricFamily(PREFIX + "cost_reserved_usd", "Cost reserved for jobs not settled yet, US dollars",
                                 labels=["engine", "model"])
    for engine, model, charged_usd, reserved_usd, _answers, _saved in rows:
        charged.add_metric([engine, model], float(charged_usd))
        reserved.add_metric([engine, model], float(reserved_usd))
    yield charged
    yield reserved
    yield CounterMetricFamily(PREFIX + "library_answers", "Requests answered from the user's library at no cost "
                                                          "(request cache hits)", value=sum(int(r[4]) for r in rows))
    yield CounterMetricFamily(PREFIX + "library_saved_usd", "What the answers from the library would have cost "
                                                            "as new generations, US dollars",
                              value=sum(float(r[5]) for r in rows))


def _postgres() -> list[Metric]:
    with session_scope() as s:
        s.connection().exec_driver_sql(f"SET LOCAL statement_timeout = {QUERY_TIMEOUT_MS}")
        return [*_jobs(s), *_generation_time(s), *_ledger(s)]


def _redis() -> list[Metric]:
    workers = GaugeMetricFamily(PREFIX + "workers_alive", "Worker processes that reported in the last few seconds",
                                value=queue.workers_alive())
    counts = progress.FANOUT.read(client())
    fanout = HistogramMetricFamily(PREFIX + "progress_fanout_seconds", "Time from a worker publishing a progress "
                                   "event to a web process delivering it to a tab's state",
                                   buckets=counts.buckets, sum_value=counts.sum)
    return [workers, fanout]


SOURCES: dict[str, tuple[Callable[[], list[Metric]], tuple[type[BaseException], ...]]] = {
    "postgres": (_postgres, (ServiceUnavailable, SQLAlchemyError)),
    "redis": (_redis, (RedisError, OSError)),
}


class ServerCollector(Collector):
    """Every family above, read afresh on each collect()."""

    def collect(self) -> Iterator[Metric]:
        started = time.perf_counter()
        up = GaugeMetricFamily(PREFIX + "metrics_source_up", "1 when this scrape could read the source, else 0 "
                                                             "(its figures are missing)", labels=["source"])
        for name, (read, errors) in SOURCES.items():
            try:
                families = read()
            except errors as exc:
                log.warning("metrics: could not read %s (%s)", name, type(exc).__name__)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from families
        yield up
        yield GaugeMetricFamily(PREFIX + "metrics_scrape_seconds", "How long this scrape took to compute",
                                value=time.perf_counter() - started)


_registry = CollectorRegistry(auto_describe=False)
_registry.register(ServerCollector())
_lock = threading.Lock()


def render(accept: str | None = None) -> tuple[bytes, str]:
    """The exposition (format chosen from the request's Accept header, as prometheus_client's own handlers do)
    and its content type. One scrape at a time per process."""
    encoder, content_type = choose_encoder(accept or "")
    with _lock:
        return encoder(_registry), content_type
