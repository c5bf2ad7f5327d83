"""What a scrape of /metrics and a /readyz probe cost, as the jobs table and the ledger grow.

For each size N: N finished jobs (90% succeeded over two engines, the rest failed or cancelled; a few queued and
running) and N ledger rows (a tenth of them answers from the library) in a throwaway database, then the server
time of core.metrics.render() (every query, the Redis reads and the text) and of core.health.readiness(),
median and p95 over several runs.

    python -m benchmarks.bench_metrics [--sizes 0,10000,100000] [--runs 20]
"""

from __future__ import annotations

import argparse
import asyncio

from benchmarks.bench_gallery_queries import timed
from benchmarks.common import environment, make_user, summary

SEED_JOBS = """
INSERT INTO generation_jobs (id, owner_id, kind, status, percent, stage, attempts, engine, model, prompt, params,
                             reserved_usd, cost_usd, created_at, started_at, finished_at, heartbeat_at)
SELECT gen_random_uuid(), :owner, 'generate',
       CASE WHEN i % 20 = 0 THEN 'failed' WHEN i % 20 = 1 THEN 'cancelled' ELSE 'succeeded' END,
       100, 'Done', 1, CASE WHEN i % 3 = 0 THEN 'openai' ELSE 'offline' END, 'model-' || (i % 3), 'bench', '{}',
       0, 0.04, now() - make_interval(secs => i), now() - make_interval(secs => i) + interval '0.2 s',
       now() - make_interval(secs => i) + make_interval(secs => 0.5 + (i % 40)), now()
FROM generate_series(1, :n) AS i
"""
SEED_LEDGER = """
INSERT INTO usage_ledger (owner_id, status, amount_usd, engine, model, usage, created_at, settled_at)
SELECT :owner, CASE WHEN i % 50 = 0 THEN 'released' ELSE 'charged' END,
       CASE WHEN i % 10 = 0 THEN 0 ELSE 0.04 END, 'openai', 'model-' || (i % 3),
       CASE WHEN i % 10 = 0 THEN '{"cached": true, "saved_usd": 0.04}'::jsonb ELSE '{}'::jsonb END,
       now() - make_interval(secs => i), now() - make_interval(secs => i)
FROM generate_series(1, :n) AS i
"""


def _seed(owner: int, n: int) -> None:
    from sqlalchemy import text

    from imagechat.db import session_scope

    with session_scope() as s:
        s.execute(text(SEED_JOBS), {"owner": owner, "n": n})
        s.execute(text(SEED_LEDGER), {"owner": owner, "n": n})
        s.execute(text("ANALYZE generation_jobs; ANALYZE usage_ledger"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="0,10000,100000")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from imagechat.core import health, metrics, queue

    with environment():
        owner, seeded = make_user(), 0
        queue.worker_heartbeat("bench:1")  # so readiness runs all three checks to the end
        for n in (int(size) for size in args.sizes.split(",")):
            _seed(owner, n - seeded)
            seeded = n
            body, _type = metrics.render()
            scrape = timed(metrics.render, args.runs)
            ready = timed(lambda: (queue.worker_heartbeat("bench:1"), asyncio.run(health.readiness())), args.runs)
            print(summary(f"{n:>7} jobs + ledger rows: /metrics render ({len(body) / 1024:.1f} KiB)", scrape))
            print(summary(f"{n:>7} jobs + ledger rows: /readyz checks", ready))


if __name__ == "__main__":
    main()
