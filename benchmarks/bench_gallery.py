"""The gallery page in a real browser at scale (issue 8, point 1). Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_gallery [--count 10000] [--others 90000] [--loads 12] [--pages 15]

Seeds --count images for one user and --others more over other users (benchmarks/seed_gallery.py, real encoded
WebP images and thumbnails) in a throwaway database, starts the app as the e2e tests do (benchmarks/bench_browser
`app_server`: `reflex run --env prod`, Redis state manager, 2 Granian workers), logs in with headless Chromium
and measures:

1. navigation -> first screen of thumbnails painted: from the navigation's start (performance.timeOrigin) to
   the first animation frame in which every card image inside the viewport is complete and decoded
   (naturalWidth > 0): the early layer drawn from the first page's JSON (components/gallery_first.js) or the
   state's own cards, whichever is there first (both show the same thumbnails in the same places). Warm:
   reloads in one browser context (bundles and thumbnails cached, as for a user who comes back); cold: a new
   context per load (nothing cached). Target p95 <= 300 ms.
2. next page appended: scroll to the end of the loaded cards; time until the first card of the next page is
   in the DOM (the grid asks for it through its sentinel, the state fetches the keyset page, the frame
   renders). Target p95 <= 200 ms. Also prints the DOM size after those pages.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from benchmarks.bench_browser import app_server
from benchmarks.common import environment, summary
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.helpers import PASSWORD

USERNAME = "bench_gallery"

# Stamps, once, the first frame in which every card image in the viewport is loaded and decoded.
PAINTED_JS = """(() => {
  // When the websocket opened and when the first message carrying the cards arrived.
  window.__ws = {};
  const Native = window.WebSocket;
  window.WebSocket = function (...args) {
    const ws = new Native(...args);
    window.__ws.created = window.__ws.created || performance.now();
    ws.addEventListener('open', () => { window.__ws.open = window.__ws.open || performance.now(); });
    ws.addEventListener('message', (e) => {
      if (typeof e.data !== 'string' || !e.data.includes('thumb.webp')) return;
      window.__ws.cards = window.__ws.cards || performance.now();
      window.__ws.last = performance.now();  // the latest delta carrying cards (a next page)
    });
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      if (typeof data === 'string' && data.includes('load_next')) window.__ws.asked = performance.now();
      return send(data);
    };
    return ws;
  };
  window.WebSocket.prototype = Native.prototype;
  Object.assign(window.WebSocket, {CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3});
  window.__painted = null;
  window.__cardsAt = null;
  const check = () => {
    if (window.__cardsAt === null && document.querySelector('.gallery-item')) window.__cardsAt = performance.now();
    const imgs = [...document.querySelectorAll('.gallery-item img')].filter((img) => {
      const r = img.getBoundingClientRect();
      return r.bottom > 0 && r.top < window.innerHeight && r.right > 0 && r.left < window.innerWidth;
    });
    if (imgs.length && imgs.every((img) => img.complete && img.naturalWidth > 0)) {
      const nav = performance.getEntriesByType('navigation')[0];
      const early = performance.getEntriesByType('resource').find((r) => r.name.includes('/api/gallery/first'));
      window.__painted = {early: early ? early.responseEnd : 0, ms: performance.now(), images: imgs.length,
                          cards: window.__cardsAt,
                          dcl: nav ? nav.domContentLoadedEventEnd : 0, ws_open: window.__ws.open || 0,
                          ws_cards: window.__ws.cards || 0};
      return;
    }
    requestAnimationFrame(check);
  };
  requestAnimationFrame(check);
})();"""

# Scroll to the end; resolve with ms until a card that was not in the DOM before appears.
APPEND_JS = """() => new Promise((resolve) => {
  const grid = document.querySelector('.gallery-grid');
  const known = new Set([...grid.children].map((c) => c.id));
  const t0 = performance.now();
  const obs = new MutationObserver(() => {
    for (const c of grid.children) {
      if (!known.has(c.id)) {
        obs.disconnect();
        const at = (t) => (t && t >= t0 ? t - t0 : -1);
        resolve({ms: performance.now() - t0, asked: at(window.__ws.asked), received: at(window.__ws.last)});
        return;
      }
    }
  });
  obs.observe(grid, {childList: true});
  setTimeout(() => { obs.disconnect(); resolve({ms: -1}); }, 10000);
  window.scrollTo(0, document.documentElement.scrollHeight);
})"""


DIAG_JS = """() => ({scrollY: window.scrollY, height: document.documentElement.scrollHeight,
  cards: document.querySelectorAll('.gallery-item').length, loading: !!document.querySelector('#gallery-loading'),
  end: !!document.querySelector('#gallery-end'), overflow: getComputedStyle(document.body).overflow,
  dialogs: document.querySelectorAll('[role=dialog]').length})"""


def log_in(page) -> None:
    page.goto("/login")
    page.locator("#login-username").fill(USERNAME)
    page.locator("#login-password").fill(PASSWORD)
    page.locator("#login-submit").click()
    page.locator("#user-menu").wait_for(state="visible")


def first_screen(page) -> dict:
    page.goto("/gallery")
    page.wait_for_function("window.__painted !== null", timeout=30_000)
    return page.evaluate("window.__painted")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=10_000, help="images of the measured user")
    parser.add_argument("--others", type=int, default=90_000, help="images of other users in the same database")
    parser.add_argument("--loads", type=int, default=12, help="page loads per series (>= 10)")
    parser.add_argument("--pages", type=int, default=15, help="next-page appends to time")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from benchmarks.seed_gallery import seed

    os.environ.pop("OPENAI_API_KEY", None)
    limits = dict(signup_limit_per_address="1000/minute", login_limit_per_address="1000/minute")
    with environment(**limits), tempfile.TemporaryDirectory() as tmp:
        t = time.monotonic()
        seed(USERNAME, args.count, args.others, password=PASSWORD)
        print(f"seeded {args.count:,} images for {USERNAME} and {args.others:,} for others "
              f"in {time.monotonic() - t:.1f} s")
        with app_server(Path(tmp)) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            viewport = {"width": 1280, "height": 800}
            try:
                context = browser.new_context(base_url=base, viewport=viewport)
                context.add_init_script(PAINTED_JS)
                page = context.new_page()
                log_in(page)
                state = context.storage_state()
                first_screen(page)  # warm-up: the bundles and the first thumbnails into the cache
                warm = [first_screen(page) for _ in range(args.loads)]
                print(summary(f"1a. navigation -> first screen of thumbnails painted, warm cache "
                              f"({warm[0]['images']} images on screen)", [w["ms"] for w in warm], "p95 <= 300 ms"))
                for label, key in (("DOMContentLoaded", "dcl"),
                                   ("the first page's JSON received (api/gallery.py)", "early"),
                                   ("first card in the DOM (early layer or React render)", "cards"),
                                   ("websocket open", "ws_open"),
                                   ("the cards' state delta received (hydrate + on_load)", "ws_cards")):
                    seen = [w[key] for w in warm if w[key] > 0]  # 0: it came after the paint
                    late = len(warm) - len(seen)
                    print(summary(f"    of which: navigation -> {label}", seen) if seen else
                          f"    of which: navigation -> {label}: after the paint in every load")
                    if seen and late:
                        print(f"      (after the paint in {late} of {len(warm)} loads)")
                cold = []
                for _ in range(args.loads):
                    ctx = browser.new_context(base_url=base, viewport=viewport, storage_state=state)
                    ctx.add_init_script(PAINTED_JS)
                    cold.append(first_screen(ctx.new_page())["ms"])
                    ctx.close()
                print(summary("1b. the same, cold cache (a new browser context each load)", cold, "p95 <= 300 ms"))

                first_screen(page)
                page.wait_for_timeout(500)
                appended, steps = [], []
                for _ in range(args.pages):
                    got = page.evaluate(APPEND_JS)
                    ms = got["ms"]
                    if ms < 0:
                        seen = page.evaluate(DIAG_JS)
                        log = (Path(tmp) / "reflex.log").read_text(errors="replace")[-3000:]
                        raise SystemExit(f"no next page was appended within 10 s ({seen}); reflex log:\n{log}")
                    appended.append(ms)
                    steps.append(got)
                    page.wait_for_timeout(400)  # the rest of the page renders; the sentinel settles
                nodes, cards = page.evaluate("() => [document.getElementsByTagName('*').length, "
                                             "document.querySelectorAll('.gallery-item').length]")
                print(summary(f"2. scroll to the end -> next page's first card in the DOM ({args.pages} pages)",
                              appended, "p95 <= 200 ms"))
                for label, key in (("the sentinel's load_next sent", "asked"),
                                   ("the delta with the page received", "received")):
                    seen = [s[key] for s in steps if s[key] >= 0]
                    if seen:
                        print(summary(f"    of which: scroll -> {label}", seen))
                print(f"   after {args.pages + 1} pages: {cards} cards and {nodes} DOM nodes in the document")
            finally:
                browser.close()


if __name__ == "__main__":
    main()
