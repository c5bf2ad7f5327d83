"""Progress bus latency: a publisher process -> Redis pub/sub -> an async subscriber (target p95 <= 10 ms).

    python -m benchmarks.bench_progress [--events 300]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
import uuid

from benchmarks.common import ROOT, environment, summary

PUBLISHER = """
import sys, time
from imagechat.core import progress
job, n = sys.argv[1], int(sys.argv[2])
time.sleep(0.5)
for i in range(n):
    progress.publish(progress.ProgressEvent(job_id=job, status="running", percent=i * 100 / n,
                                            stage=str(time.time_ns())))
    time.sleep(0.02)  # 50 Hz: faster than the 20 Hz the worker ever publishes
progress.publish(progress.ProgressEvent(job_id=job, status="succeeded", percent=100, stage=str(time.time_ns())))
"""


async def measure(events: int) -> list[float]:
    from imagechat.core import progress

    job = str(uuid.uuid4())
    latencies = []
    async with progress.Subscriber() as sub:
        await sub.add(job)
        proc = subprocess.Popen([sys.executable, "-c", PUBLISHER, job, str(events)], cwd=ROOT)
        while True:
            event = await sub.get(timeout=30)
            if event is None:
                raise SystemExit("publisher stopped sending")
            latencies.append((time.time_ns() - int(event.stage)) / 1e6)
            if event.terminal:
                break
        proc.wait()
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with environment():
        all_samples = []
        for run in range(args.runs):
            samples = asyncio.run(measure(args.events))
            all_samples += samples
            print(summary(f"run {run + 1}", samples))
        print(summary("progress publish -> subscriber, all runs", all_samples, "p95 <= 10 ms"))


if __name__ == "__main__":
    main()
