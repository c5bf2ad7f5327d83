"""Chat experience in a real browser (issue "Chat experience", acceptance 9). Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_browser [--events 60] [--hz 15] [--samples 30]

Starts the app as the e2e fixture does (`reflex run --env prod`, Redis state manager, GRANIAN_WORKERS=2,
its own process group, 127.0.0.1 on a free port) against a throwaway database and a private Redis
namespace, drives headless Chromium, and measures:

1. progress latency: this process publishes ProgressEvents for a real queued job (no worker running, so
   only we publish) at --hz; a MutationObserver in the page stamps when each stage text appears in the
   DOM (performance.timeOrigin + now(), the same machine clock as time.time()). Target p95 <= 100 ms;
   the measured floor of Reflex itself is about 3.4 ms p95 (/work/shared/ENVIRONMENT.md).
2. UI round trip of an unrelated event (conversation menu -> "Rename": ChatState.start_rename, time from
   the in-page click to the rename input in the DOM), idle and while 5 offline jobs of 1792x1024 n=4 run
   in a real worker (1 process, 5 threads) and stream progress into the same tab (target p95 <= 100 ms),
   and while 5 jobs of another user run (the same CPU load, nothing streamed to this tab).
3. the same round trip for the NAIVE design (the Reflex example apps' shape): a bench-only page
   (/bench/naive, registered with IMAGECHAT_BENCH_PAGES=1) whose plain async handler awaits the offline
   engine itself; 5 generations are started in one tab and "Ping" is clicked every --ping-every seconds
   until they end; latency of click k = first time the DOM shows >= k pongs minus the click.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from benchmarks.common import ROOT, environment, make_user, percentile, summary
from imagechat.core.request import ImageRequest
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, _free_port, _stop_group, project_env
from tests.e2e.helpers import SLOW, send, sign_up
from tests.support.services import WorkerProcess, http_ok, worker_env

APP_START_TIMEOUT_S = 600  # the first build of a fresh web dir runs `bun install`
WEB_DIR = Path(tempfile.gettempdir()) / f"imagechat-bench-web-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]}"
E2E_WEB_DIR = Path(tempfile.gettempdir()) / f"imagechat-e2e-web-{hashlib.sha1(str(ROOT).encode()).hexdigest()[:10]}"
JOBS = 5
ACTIVE = ("queued", "running")
RENAME_INPUT = 'input[aria-label="Conversation name"]'

STAGE_OBSERVER_JS = """() => {
  window.__stageSeen = {};
  const re = /^bench (\\d+)$/;
  const check = () => {
    const t = performance.timeOrigin + performance.now();
    for (const el of document.querySelectorAll('.job-stage')) {
      const m = re.exec(el.textContent.trim());
      if (m && !(m[1] in window.__stageSeen)) window.__stageSeen[m[1]] = t;
    }
  };
  window.__stageObs = new MutationObserver(check);
  window.__stageObs.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""

# Click "Rename" in the open conversation menu; resolve with ms until the rename input is in the DOM.
RENAME_ROUND_TRIP_JS = """(sel) => new Promise((resolve) => {
  const item = [...document.querySelectorAll('[role=menuitem]')].find(e => e.textContent.trim() === 'Rename');
  if (!item) { resolve(-1); return; }
  let t0 = 0;
  const obs = new MutationObserver(() => {
    if (document.querySelector(sel)) { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(document.body, {subtree: true, childList: true});
  setTimeout(() => { obs.disconnect(); resolve(-2); }, 30000);
  t0 = performance.now();
  item.click();
})"""

PONG_OBSERVER_JS = """() => {
  window.__pongAt = {}; window.__clicks = [];
  const read = () => parseInt(document.getElementById('naive-pongs').textContent, 10);
  const base = read();
  const check = () => {
    const t = performance.timeOrigin + performance.now();
    const v = read() - base;
    for (let k = 1; k <= v; k++) if (!(k in window.__pongAt)) window.__pongAt[k] = t;
  };
  new MutationObserver(check).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""

PING_JS = """() => {
  window.__clicks.push(performance.timeOrigin + performance.now());
  document.getElementById('naive-ping').click();
  return parseInt(document.getElementById('naive-done').textContent, 10);
}"""


# ------------------------------------------------------------------ app and database helpers


@contextmanager
def app_server(logdir: Path, **overrides):
    """`reflex run --env prod` like tests/e2e/conftest.py::app_server, plus IMAGECHAT_BENCH_PAGES=1; `overrides`
    are settings for the app (e.g. image_engine="openai"), applied last."""
    env = project_env()
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):  # offline engine and the deterministic parser only
        env.pop(name, None)
    if not WEB_DIR.exists() and (E2E_WEB_DIR / "node_modules").exists():
        # Seed our own web dir from the e2e one (same package set), so no `bun install` is needed and a
        # concurrent e2e run never sees a build that contains the bench page.
        shutil.copytree(E2E_WEB_DIR, WEB_DIR, symlinks=True,
                        ignore=lambda d, names: ["build"] if Path(d) == E2E_WEB_DIR else [])
    env.update(
        DATABASE_URL=os.environ["DATABASE_URL"], REDIS_URL=os.environ["REDIS_URL"],
        REFLEX_REDIS_URL=os.environ["REDIS_URL"], IMAGE_ENGINE="offline", GRANIAN_WORKERS="2",
        REFLEX_WEB_WORKDIR=str(WEB_DIR), REFLEX_STATES_WORKDIR=str(WEB_DIR.with_name(WEB_DIR.name + "-states")),
        IMAGECHAT_BENCH_PAGES="1",
    )
    env.update({k.upper(): str(v) for k, v in overrides.items()})
    port = _free_port()
    log_path = logdir / "reflex.log"
    log = open(log_path, "wb")
    reflex = shutil.which("reflex", path=env["PATH"]) or str(Path(sys.executable).with_name("reflex"))
    started = time.monotonic()
    proc = subprocess.Popen(
        [reflex, "run", "--env", "prod", "--frontend-port", str(port), "--backend-port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        while not (http_ok(f"{base}/ping") and http_ok(f"{base}/bench/naive")):
            if proc.poll() is not None or time.monotonic() - started > APP_START_TIMEOUT_S:
                raise SystemExit(f"the app did not start:\n{log_path.read_text(errors='replace')[-4000:]}")
            time.sleep(0.25)
        print(f"app ready at {base} in {time.monotonic() - started:.1f} s (prod, Redis state, 2 Granian workers)")
        yield base
    finally:
        _stop_group(proc)
        log.close()


def user_id(username: str) -> int:
    from sqlmodel import select

    from imagechat.db import session_scope
    from imagechat.models import User

    with session_scope() as s:
        return s.exec(select(User.id).where(User.username == username)).one()


def job_states(owner: int) -> dict[str, str]:
    from sqlmodel import select

    from imagechat.db import session_scope
    from imagechat.models import GenerationJob

    with session_scope() as s:
        rows = s.exec(select(GenerationJob.id, GenerationJob.status).where(GenerationJob.owner_id == owner)).all()
    return {str(i): st for i, st in rows}


def cancel_active(owner: int) -> None:
    from imagechat.core import jobs

    for job_id, status in job_states(owner).items():
        if status in ACTIVE:
            jobs.cancel(owner, uuid.UUID(job_id))


def wait_until(predicate, timeout: float, what: str, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")


# ------------------------------------------------------------------ 1. progress latency


def clock_offset_ms(page) -> tuple[float, float]:
    """(page clock - time.time()) in ms, from the tightest of 15 round trips, and that round trip."""
    best = (float("inf"), 0.0)
    for _ in range(15):
        t0 = time.time()
        js = page.evaluate("performance.timeOrigin + performance.now()")
        t1 = time.time()
        best = min(best, ((t1 - t0) * 1000, js - (t0 + t1) / 2 * 1000))
    return best[1], best[0]


def progress_latency(page, job_id: str, events: int, hz: float) -> tuple[list[float], int]:
    from imagechat.core import progress
    from imagechat.core.progress import ProgressEvent

    stage = page.locator(".job-stage").first

    def warmed() -> bool:  # the page's watcher is subscribed once a published stage shows up
        progress.publish(ProgressEvent(job_id=job_id, status="running", percent=0, stage="bench warm-up"))
        return stage.text_content(timeout=1000) == "bench warm-up"

    wait_until(warmed, 20, "the page to show a published stage", step=0.1)
    page.evaluate(STAGE_OBSERVER_JS)
    sent: dict[int, float] = {}
    period, next_at = 1 / hz, time.monotonic()
    for i in range(events):
        sent[i] = time.time()
        progress.publish(ProgressEvent(job_id=job_id, status="running", percent=1 + i * 98 / events,
                                       stage=f"bench {i}"))
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))
    deadline = time.monotonic() + 5
    seen: dict = {}
    while time.monotonic() < deadline and len(seen) < events:
        seen = page.evaluate("window.__stageSeen")
        time.sleep(0.1)
    page.evaluate("window.__stageObs.disconnect()")
    latencies = [seen[str(i)] - sent[i] * 1000 for i in range(events) if str(i) in seen]
    return latencies, events - len(latencies)


# ------------------------------------------------------------------ 2. UI round trip (ours)


def rename_round_trip(page) -> float:
    page.get_by_role("button", name="Conversation options").first.click()
    page.get_by_role("menuitem", name="Rename").wait_for(state="visible")
    ms = page.evaluate(RENAME_ROUND_TRIP_JS, RENAME_INPUT)
    if ms < 0:
        raise SystemExit(f"rename round trip failed ({ms})")
    page.locator(RENAME_INPUT).press("Enter")  # rename to the same title: closes the form (not timed)
    page.locator(RENAME_INPUT).wait_for(state="detached")
    return ms


def ui_round_trips(page, samples: int, keep_going=None, max_samples: int = 200, max_s: float = 120) -> list[tuple]:
    """(ms, active jobs before the click) per sample; continues past `samples` while keep_going() is true."""
    out = []
    started = time.monotonic()
    while len(out) < max_samples and time.monotonic() - started < max_s:
        active = keep_going() if keep_going else 0
        if len(out) >= samples and not active:
            break
        out.append((rename_round_trip(page), active))
        time.sleep(0.05)
    return out


# ------------------------------------------------------------------ 3. UI round trip (naive design)


def naive_round_trips(page, generations: int, ping_every: float, max_s: float = 240) -> tuple[list[float], float]:
    page.goto("/bench/naive")
    page.locator("#naive-ping").click()  # warm-up: the socket is up and the state exists
    page.wait_for_function("document.getElementById('naive-pongs').textContent === '1'", timeout=30_000)
    page.evaluate(PONG_OBSERVER_JS)
    t0 = time.monotonic()
    page.evaluate(f"() => {{ for (let i = 0; i < {generations}; i++) "
                  "document.getElementById('naive-generate').click(); }")
    time.sleep(ping_every)
    while time.monotonic() - t0 < max_s:
        done = page.evaluate(PING_JS)
        if done >= generations:
            break
        time.sleep(ping_every)
    batch_s = time.monotonic() - t0
    clicks = page.evaluate("window.__clicks.length")
    page.wait_for_function(f"Object.keys(window.__pongAt).length >= {clicks}", timeout=30_000)
    pong_at, click_at = page.evaluate("window.__pongAt"), page.evaluate("window.__clicks")
    # The last click is the one that saw all generations done: it is not "during" them; drop it.
    return [pong_at[str(k + 1)] - click_at[k] for k in range(clicks - 1)], batch_s


# ------------------------------------------------------------------ main


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=60, help="progress events to publish (>= 50)")
    parser.add_argument("--hz", type=float, default=15.0, help="publish rate (the worker publishes at 10-20 Hz)")
    parser.add_argument("--samples", type=int, default=30, help="minimum UI round trips per phase")
    parser.add_argument("--worker-threads", type=int, default=JOBS,
                        help="jobs the worker runs at once (5: all at once; the product default is WORKER_THREADS=2)")
    parser.add_argument("--ping-every", type=float, default=0.25, help="naive phase: seconds between pings")
    args = parser.parse_args()

    from playwright.sync_api import expect, sync_playwright

    from imagechat.core import jobs

    expect.set_options(timeout=30_000)
    os.environ.pop("OPENAI_API_KEY", None)
    t_start = time.monotonic()
    # 5 jobs of one user run at once, as before fair scheduling capped a user's jobs in flight (default 2).
    limits = dict(max_jobs_in_flight_per_user=JOBS, signup_limit_per_address="1000/minute",
                  login_limit_per_address="1000/minute")
    with environment(**limits) as _, tempfile.TemporaryDirectory() as tmp, app_server(Path(tmp)) as base, \
            sync_playwright() as pw:
        logdir = Path(tmp)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            owner = user_id(sign_up(page))

            # 1. one real job, queued with no worker: the page's watch_job follows it; only we publish.
            send(page, SLOW)
            job_id = wait_until(lambda: next(iter(job_states(owner)), None), 30, "the job row")
            page.locator(".job-stage").first.wait_for(state="visible")
            offset, rtt = clock_offset_ms(page)
            latencies, missing = progress_latency(page, job_id, args.events, args.hz)
            print(f"clock check: page - python = {offset:+.2f} ms (+-{rtt / 2:.2f} ms); not subtracted")
            print(summary(f"1. publish -> DOM stage text ({args.hz:g} Hz, {missing} not shown)", latencies,
                          "p95 <= 100 ms; Reflex floor ~3.4 ms p95"))
            cancel_active(owner)
            page.locator(".job-failed").first.wait_for(state="visible")

            # 2. unrelated UI event, idle and while 5 jobs run in a real worker
            idle = [ms for ms, _ in ui_round_trips(page, args.samples)]
            print(summary("2a. UI round trip (menu > Rename -> input in DOM), idle", idle))
            for k in range(JOBS):
                send(page, SLOW)
                wait_until(lambda k=k: sum(s in ACTIVE for s in job_states(owner).values()) >= k + 1, 30,
                           f"job {k + 1} to be queued")
                page.locator(".job-live").nth(k).wait_for(state="visible")
            worker = WorkerProcess(logdir / "worker.log",
                                   worker_env(os.environ["DATABASE_URL"], os.environ["REDIS_URL"]),
                                   processes=1, threads=args.worker_threads)
            try:
                wait_until(lambda: "running" in job_states(owner).values(), 30, "a job to run")

                def active() -> int:
                    return sum(s in ACTIVE for s in job_states(owner).values())

                loaded = ui_round_trips(page, args.samples, keep_going=active)
                during = [ms for ms, n in loaded if n]
                counts = [n for _, n in loaded if n]
                print(summary(f"2b. UI round trip while jobs run (active jobs median "
                              f"{statistics.median(counts) if counts else 0:g} of {JOBS}, "
                              f"{args.worker_threads} at a time)", during or [0.0],
                              "p95 <= 100 ms"))
                if len(during) < args.samples:
                    print(f"   only {len(during)} samples fell while jobs were active (wanted {args.samples})")
                cancel_active(owner)
                # 2c. the same load from another user's jobs: CPU contention only, no progress into this tab
                other = make_user()
                for _ in range(JOBS):
                    jobs.submit(other, ImageRequest(prompt="a city skyline at night", width=1792,
                                                height=1024, n=4))
                wait_until(lambda: "running" in job_states(other).values(), 30, "another user's job to run")
                loaded = ui_round_trips(page, args.samples, keep_going=lambda: sum(
                    s in ACTIVE for s in job_states(other).values()))
                cpu_only = [ms for ms, n in loaded if n]
                print(summary("2c. same, while 5 jobs of ANOTHER user run (CPU load only, nothing streamed "
                              "to this tab)", cpu_only or [0.0]))
                cancel_active(other)
            finally:
                worker.stop()
            page.close()

            # 3. the naive design: the handler awaits the engine; 5 generations in one tab, pings meanwhile
            naive_page = context.new_page()
            naive, batch_s = naive_round_trips(naive_page, JOBS, args.ping_every)
            print(summary(f"3. NAIVE UI round trip while {JOBS} in-handler generations run "
                          f"(batch {batch_s:.1f} s)", naive, "p95 <= 100 ms"))
            if during and naive:
                p50 = statistics.median(naive) / statistics.median(during)
                p95 = percentile(naive, 95) / percentile(during, 95)
                print(f"   naive / ours: x{p50:.0f} at the median, x{p95:.0f} at p95")
        finally:
            browser.close()
    print(f"total {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()
