"""A Prometheus-style histogram kept in Redis, so that every process observing adds to one set of counts.

Why Redis and not prometheus_client's own Histogram: the web app runs as several Granian worker processes and a
scrape of /metrics reaches one of them, whose in-memory counts would be its share only. (prometheus_client's
multiprocess mode would need a shared directory prepared by every launcher and one host; Redis is already shared
by all processes, on any number of hosts.)

One Redis hash per histogram: a field per bucket bound ("0.005", ..., "+Inf") counting the observations that fell
in that bucket and no lower one, plus "sum_us", the sum in whole microseconds (integers, so nothing drifts). A
batch of observations is one MULTI/EXEC of HINCRBYs, and a read is one HGETALL, so a reader never sees the
buckets and the sum disagree. The counts live as long as Redis keeps its data; a Redis that lost them starts from
zero, which Prometheus treats as a counter reset.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import redis
import redis.asyncio as aredis

from imagechat.core.redis_client import key

INF = "+Inf"
SUM = "sum_us"


def bound_label(bound: float) -> str:
    """A bucket bound as Prometheus writes it ("0.005", "1.0", "+Inf")."""
    return INF if math.isinf(bound) else repr(float(bound))


@dataclass(frozen=True)
class HistogramCounts:
    buckets: list[tuple[str, int]]  # cumulative, ("0.005", n), ..., ("+Inf", count)
    count: int
    sum: float  # seconds


class RedisHistogram:
    def __init__(self, name: str, bounds: Sequence[float]):
        if list(bounds) != sorted(set(bounds)) or not bounds or any(not math.isfinite(b) for b in bounds):
            raise ValueError("bounds: finite, increasing, at least one")
        self.name = name
        self.bounds = tuple(float(b) for b in bounds)

    def key(self) -> str:
        return key("metrics", self.name)

    def increments(self, values: Iterable[float]) -> dict[str, int]:
        """The hash fields a batch of observations adds to (negative values count as 0)."""
        fields: Counter[str] = Counter()
        for value in values:
            value = max(0.0, float(value))
            i = bisect.bisect_left(self.bounds, value)
            fields[bound_label(self.bounds[i]) if i < len(self.bounds) else INF] += 1
            fields[SUM] += round(value * 1_000_000)
        return dict(fields)

    async def observe(self, client: aredis.Redis, values: Iterable[float]) -> None:
        """Add observations (seconds) in one round trip."""
        fields = self.increments(values)
        if not fields:
            return
        pipe = client.pipeline(transaction=True)
        for field, amount in fields.items():
            pipe.hincrby(self.key(), field, amount)
        await pipe.execute()

    def read(self, client: redis.Redis) -> HistogramCounts:
        raw = {k.decode() if isinstance(k, bytes) else k: int(v) for k, v in client.hgetall(self.key()).items()}
        total_us = raw.pop(SUM, 0)
        per_bound: dict[float, int] = {}
        for field, n in raw.items():
            try:
                per_bound[float(field)] = per_bound.get(float(field), 0) + n  # "+Inf" parses as inf
            except ValueError:
                continue  # not a bucket field
        count = sum(per_bound.values())
        buckets = [(bound_label(b), sum(n for upper, n in per_bound.items() if upper <= b)) for b in self.bounds]
        return HistogramCounts(buckets=[*buckets, (INF, count)], count=count, sum=total_us / 1_000_000)
