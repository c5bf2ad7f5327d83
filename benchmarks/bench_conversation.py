"""Long conversations in a real browser (issue 8, point 2). Prints figures; asserts nothing.

    .venv/bin/python -m benchmarks.bench_conversation [--sizes 10,2000] [--turns 12] [--loads 10]

Starts the app as benchmarks/bench_browser.py does (`reflex run --env prod`, Redis state manager, 2 Granian
workers, a throwaway database, a private Redis namespace), signs up in headless Chromium and seeds, with
direct bulk inserts, one conversation per size (user and assistant messages alternating; every assistant
message carries a finished job with one real encoded image, so half the messages have images). Then, per size:

1. reply time of a text turn: the composer is filled, a script in the page clicks Send and stamps when the
   reply (an assistant message after our words, not the "…" placeholder) is in the DOM. p50/p95 over
   --turns turns; the sizes are printed side by side with their ratio (the target is a ratio near 1).
2. reload -> images painted (measured before the turns): the page is reloaded on that conversation; the time
   from navigation start until every image in the viewport has been decoded and at least one is shown
   (min(50, shown) images);
   also how many messages and images the page holds (the DOM's size).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from benchmarks.bench_browser import app_server, user_id
from benchmarks.common import environment, percentile, summary
from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.e2e.helpers import sign_up

TEXT_TURN = "thanks, that is lovely ({k})"  # the parser answers with text, never a job

# Clicks Send and resolves with ms until an assistant reply (not the placeholder) follows our words in the DOM.
REPLY_JS = """(marker) => new Promise((resolve) => {
  const done = () => {
    const all = [...document.querySelectorAll('.chat-message')];
    const mine = all.findIndex(e => e.classList.contains('user-message') && e.textContent.includes(marker));
    if (mine < 0) return false;
    return all.slice(mine + 1).some(e => e.classList.contains('assistant-message')
                                        && e.textContent.trim() !== '' && e.textContent.trim() !== '…');
  };
  let t0 = 0;
  const obs = new MutationObserver(() => { if (done()) { obs.disconnect(); resolve(performance.now() - t0); } });
  obs.observe(document.body, {subtree: true, childList: true, characterData: true});
  setTimeout(() => { obs.disconnect(); resolve(-1); }, 30000);
  t0 = performance.now();
  document.getElementById('send-button').click();
})"""

# Resolves with ms since navigation start when every image in the viewport is decoded (at least one, at most 50).
IMAGES_PAINTED_JS = """() => new Promise((resolve) => {
  const inView = (e) => { const r = e.getBoundingClientRect();
                          return r.bottom > 0 && r.top < innerHeight && r.width > 0 && r.height > 0; };
  const check = () => {
    const imgs = [...document.querySelectorAll('img.generated-image')].filter(inView).slice(0, 50);
    if (imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0)) {
      resolve({ms: performance.now(), shown: imgs.length,
               messages: document.querySelectorAll('.chat-message').length,
               images: document.querySelectorAll('img.generated-image').length});
      return;
    }
    if (performance.now() > 30000) {
      resolve({ms: -1, seen: [...document.querySelectorAll('img.generated-image')].slice(-5).map(
        i => [i.src, i.complete, i.naturalWidth, JSON.stringify(i.getBoundingClientRect())])});
      return;
    }
    requestAnimationFrame(check);
  };
  check();
})"""


def _sample_images(n: int = 4) -> list:
    """A few real encoded images (stored as the app stores them), reused across the seeded messages."""
    from PIL import Image as PILImage
    from PIL import ImageDraw

    from imagechat.core import library

    out = []
    for k in range(n):
        im = PILImage.new("RGB", (768, 512), (40 + 50 * k, 90, 160))
        draw = ImageDraw.Draw(im)
        for i in range(0, 768, 24):
            draw.line([(i, 0), (768 - i, 512)], fill=(255 - i // 4, 120 + k * 30, i // 4), width=3)
        buf = io.BytesIO()
        im.save(buf, format="PNG")
        out.append(library.prepare(buf.getvalue()))
    return out


def seed_conversation(owner: int, messages: int, title: str, stored: list) -> int:
    """A conversation of `messages` messages, every second one an assistant reply with one finished image."""
    from sqlalchemy import insert

    from imagechat.db import session_scope
    from imagechat.models import Conversation, GenerationJob, Image, ImageData, Message, utcnow

    start = utcnow() - timedelta(days=30)
    with session_scope() as s:
        conv = Conversation(owner_id=owner, title=title, created_at=start, updated_at=start)
        s.add(conv)
        s.flush()
        msgs, jobs, images, data = [], [], [], []
        for i in range(messages):
            at = start + timedelta(seconds=i)
            if i % 2 == 0:
                msgs.append(dict(conversation_id=conv.id, owner_id=owner, role="user", created_at=at,
                                 content=f"Create an image of a harbour at dawn, take {i // 2}"))
                continue
            job_id, image_id, st = uuid.uuid4(), uuid.uuid4(), stored[i % len(stored)]
            jobs.append(dict(id=job_id, owner_id=owner, conversation_id=conv.id, kind="generate", status="succeeded",
                             percent=100.0, stage="Done", engine="offline", model="bench", prompt="a harbour at dawn",
                             params={}, created_at=at, finished_at=at))
            images.append(dict(id=image_id, owner_id=owner, job_id=job_id, index_in_job=0, conversation_id=conv.id,
                               prompt=f"a harbour at dawn, take {i // 2}", engine="offline", model="bench", seed=i,
                               width=st.width, height=st.height, mime=st.mime, byte_size=st.byte_size,
                               sha256=st.sha256, created_at=at))
            data.append(dict(image_id=image_id, data_b64=st.data_b64, thumb_b64=st.thumb_b64))
            msgs.append(dict(conversation_id=conv.id, owner_id=owner, role="assistant", created_at=at, job_id=job_id,
                             content="Generating your image... this may take up to 30 seconds."))
        for model, rows in ((GenerationJob, jobs), (Image, images), (ImageData, data), (Message, msgs)):
            for k in range(0, len(rows), 500):
                if rows[k:k + 500]:
                    s.execute(insert(model), rows[k:k + 500])
        return conv.id


def open_conversation(page, title: str) -> None:
    """Select the conversation in the sidebar (works whatever the URL scheme) and wait for its newest message."""
    page.locator(".conversation", has_text=title).first.click()
    page.locator(".chat-message").last.wait_for(state="visible")
    page.wait_for_timeout(300)


def reply_times(page, turns: int, size: int) -> list[float]:
    out = []
    box = page.get_by_role("textbox", name="Prompt")
    for k in range(turns + 1):  # the first turn warms up (not counted)
        marker = TEXT_TURN.format(k=f"{size}-{k}")
        box.fill(marker)
        page.wait_for_function("() => !document.getElementById('send-button').disabled")
        ms = page.evaluate(REPLY_JS, marker)
        if ms < 0:
            raise SystemExit(f"no reply within 30 s at {size} messages")
        if k:
            out.append(ms)
        # the saved messages replace the placeholders; the next turn may start once the composer is free
        page.wait_for_function("() => !document.querySelector('#composer-notice')", timeout=30_000)
        page.wait_for_timeout(150)
    return out


def reload_times(page, loads: int) -> tuple[list[float], dict]:
    out, last = [], {}
    for _ in range(loads):
        page.reload()
        got = page.evaluate(IMAGES_PAINTED_JS)
        if got["ms"] < 0:
            raise SystemExit(f"images were not painted within 30 s of a reload: {got.get('seen')}")
        out.append(got["ms"])
        last = got
    return out, last


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,2000", help="conversation sizes in messages, comma-separated")
    parser.add_argument("--turns", type=int, default=12, help="timed text turns per size (>= 10)")
    parser.add_argument("--loads", type=int, default=10, help="timed reloads per size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=60_000)
    os.environ.pop("OPENAI_API_KEY", None)
    t_start = time.monotonic()
    limits = dict(signup_limit_per_address="1000/minute", login_limit_per_address="1000/minute",
                  chat_rate_limit="100000/minute")
    with environment(**limits) as _, tempfile.TemporaryDirectory() as tmp, app_server(Path(tmp)) as base, \
            sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            owner = user_id(sign_up(page))
            stored = _sample_images()
            titles = {}
            for size in sizes:
                t = time.monotonic()
                titles[size] = f"bench {size} messages"
                seed_conversation(owner, size, titles[size], stored)
                print(f"seeded a conversation of {size} messages ({size // 2} with images) "
                      f"in {time.monotonic() - t:.1f} s")
            page.reload()
            replies: dict[int, list[float]] = {}
            reloads: dict[int, list[float]] = {}
            for size in sizes:
                open_conversation(page, titles[size])
                # reloads first: the seeded conversation ends on an image; our text turns would push it out of view
                reloads[size], shown = reload_times(page, args.loads)
                print(summary(f"{size:>5} messages: reload -> {shown.get('shown')} images in view painted",
                              reloads[size])
                      + f"; the page holds {shown.get('messages')} messages, {shown.get('images')} images", flush=True)
                replies[size] = reply_times(page, args.turns, size)
                print(summary(f"{size:>5} messages: reply (send -> reply in the DOM)", replies[size]), flush=True)
            if len(sizes) >= 2:
                small, big = sizes[0], sizes[-1]
                for label, data in (("reply", replies), ("reload", reloads)):
                    a, b = data[small], data[big]
                    print(f"{label}: {small} vs {big} messages: p50 {statistics.median(a):.0f} vs "
                          f"{statistics.median(b):.0f} ms (x{statistics.median(b) / statistics.median(a):.2f}), "
                          f"p95 {percentile(a, 95):.0f} vs {percentile(b, 95):.0f} ms "
                          f"(x{percentile(b, 95) / percentile(a, 95):.2f})")
        finally:
            browser.close()
    print(f"total {time.monotonic() - t_start:.0f} s")


if __name__ == "__main__":
    main()
