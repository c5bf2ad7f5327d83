"""`make demo`: a scripted walk-through of a running imagechat, recorded as a short video and screenshots.

    python scripts/demo.py [--url http://127.0.0.1:3000] [--out docs/demo] [--no-video] [--pace 1.0]

It drives the system Chromium (Playwright's sync API) through what a new user does: sign up, the two sample
requests of the product brief ("Create an image of a sunset over mountains with a lake reflection", live
progress, the image inline; then "make it more like a watercolor painting", before and after), the gallery
(search, a filter, the detail view with its before/after slider), a share link opened by someone without an
account, and the same app on a phone (390x844). It writes into --out:

- NN-what-desktop.webp (1280x800) and NN-what-phone.webp (390x844): the key moments;
- demo.mp4 (H.264, 1280x856): the whole walk-through with a caption strip under the page.

The video is not Playwright's recorder (that needs Playwright's own ffmpeg build, a download this project
cannot rely on): Chromium streams the page's frames over the DevTools protocol (Page.startScreencast), each
frame with its time, and the system ffmpeg encodes them at a constant frame rate. A screen that stays still
longer than MAX_HOLD_S is shown for MAX_HOLD_S only. A drawn pointer (Chromium paints none when headless) shows
where the walk-through moves and clicks; the screenshots leave it out.

The demo account (demo_XXXXXXXX, printed at the end) stays in the app's database. On a fresh database the
first account becomes the administrator, so create your own account before running the demo there.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "http://127.0.0.1:3000"
DEFAULT_OUT = ROOT / "docs" / "demo"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
# As tests/e2e/conftest.py: headless, and nothing reaching outside hosts.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]

SUNSET = "Create an image of a sunset over mountains with a lake reflection"
WATERCOLOR = "make it more like a watercolor painting"
PASSWORD = "demo-" + uuid.uuid4().hex[:12]
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}

FPS = 15
CAPTION_H = 56  # the caption strip under the page
VIDEO_SIZE = (DESKTOP["width"], DESKTOP["height"] + CAPTION_H)
MAX_HOLD_S = 1.8  # a still screen lasts at most this long in the video
END_HOLD_S = 1.5  # the last frame stays this long
SHOT_QUALITY = 80  # WebP quality of the screenshots
VIDEO_CRF = 30  # x264 quality (higher = smaller); UI frames stay sharp at this level
GENERATION_TIMEOUT_MS = 120_000

SCREENSHOTS = {  # file name -> what it shows (IMAGE_GALLERY.md's captions, scripts/make_gallery.py)
    "01-progress-desktop.webp": "Live progress while the sunset is painted",
    "02-image-desktop.webp": "The image in the chat",
    "03-before-after-desktop.webp": "\u201cmake it more like a watercolor painting\u201d: before and after",
    "04-gallery-desktop.webp": "The gallery, searching for \u201clake\u201d",
    "05-compare-desktop.webp": "The detail view: the before/after slider",
    "06-shared-desktop.webp": "A share link, opened without an account",
    "07-chat-phone.webp": "The chat on a phone (390x844)",
    "08-gallery-phone.webp": "The gallery on a phone",
}
VIDEO = "demo.mp4"
SCENES = 8  # captions "n/8" in the video
OWN_FILE = re.compile(r"^(\d\d-[a-z0-9-]+-(desktop|phone)\.webp|demo\.mp4)$")  # what a new run replaces

# A pointer drawn into the page: a dot that glides to where the mouse goes and shrinks on a press. Playwright
# runs it as an init script in every page (the pages' Content-Security-Policy does not apply to it).
POINTER_JS = """
(() => {
  if (window.top !== window) return;
  const make = () => {
    if (document.getElementById('demo-pointer')) return;
    const dot = document.createElement('div');
    dot.id = 'demo-pointer';
    Object.assign(dot.style, {
      position: 'fixed', left: '-40px', top: '-40px', width: '22px', height: '22px', margin: '-11px 0 0 -11px',
      borderRadius: '50%', background: 'rgba(124, 58, 237, 0.30)', border: '2px solid rgba(124, 58, 237, 0.95)',
      boxShadow: '0 0 0 2px rgba(255, 255, 255, 0.8)', zIndex: '2147483647', pointerEvents: 'none',
      transition: 'left 0.35s ease, top 0.35s ease, transform 0.12s ease',
    });
    document.documentElement.appendChild(dot);
    // Pointer events, not mouse events: a page that cancels pointerdown (the compare slider) gets no mousemove.
    addEventListener('pointermove', (e) => { dot.style.left = e.clientX + 'px'; dot.style.top = e.clientY + 'px'; },
                     true);
    // While the button is down (a drag) the dot follows at once; between clicks it glides.
    const press = (down) => {
      dot.style.transform = down ? 'scale(0.6)' : '';
      dot.style.transitionProperty = down ? 'transform' : 'left, top, transform';  // never 'all' (the default)
    };
    addEventListener('pointerdown', () => press(true), true);
    addEventListener('pointerup', () => press(false), true);
  };
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', make); else make();
})();
"""
POINTER_VISIBLE_JS = "v => { const d = document.getElementById('demo-pointer'); if (d) d.style.visibility = v; }"
GALLERY_COUNTED_JS = "() => /\\d+ images?$/.test(document.getElementById('gallery-count')?.textContent ?? '')"
# [scope, images]: every image matching `images` inside the last element matching `scope` has loaded.
IMAGES_LOADED_JS = ("([scope, sel]) => { const box = [...document.querySelectorAll(scope)].pop();"
                    " const l = box ? [...box.querySelectorAll(sel)] : [];"
                    " return l.length > 0 && l.every(i => i.complete && i.naturalWidth > 0); }")


class DemoError(Exception):
    """The walk-through cannot go on; the message says why and what to do."""


@dataclass
class DemoResult:
    user: str
    share_link: str
    screenshots: list[Path]
    video: Path | None
    video_seconds: float
    chapters: list[tuple[float, str]] = field(default_factory=list)  # (second in the video, caption)
    page_errors: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- the recorder


@dataclass
class _Frame:
    at: float  # seconds, wall clock
    path: Path


class Recorder:
    """Collects the screencast frames of one page at a time (follow() switches pages) and the captions, then
    encodes them with ffmpeg into an MP4 at a constant frame rate."""

    def __init__(self, frames_dir: Path):
        self.frames_dir = frames_dir
        self.frames: list[_Frame] = []
        self.captions: list[tuple[float, str]] = []
        self._cdp = None

    def follow(self, page) -> None:
        self.stop()
        cdp = page.context.new_cdp_session(page)
        size = page.viewport_size

        def on_frame(params: dict) -> None:
            path = self.frames_dir / f"{len(self.frames):06d}.jpg"
            path.write_bytes(base64.b64decode(params["data"]))
            self.frames.append(_Frame(params.get("metadata", {}).get("timestamp") or time.time(), path))
            try:
                cdp.send("Page.screencastFrameAck", {"sessionId": params["sessionId"]})
            except Exception:  # noqa: BLE001 - the page closed meanwhile: nothing more to acknowledge
                pass

        cdp.on("Page.screencastFrame", on_frame)
        cdp.send("Page.startScreencast", {"format": "jpeg", "quality": 85, "maxWidth": size["width"],
                                          "maxHeight": size["height"], "everyNthFrame": 2})
        self._cdp = cdp

    def stop(self) -> None:
        if self._cdp is not None:
            try:
                self._cdp.send("Page.stopScreencast")
                self._cdp.detach()
            except Exception:  # noqa: BLE001 - the page is already gone
                pass
            self._cdp = None

    def caption(self, text: str) -> None:
        self.captions.append((time.time(), text))

    def timeline(self) -> tuple[list[tuple[float, Path]], list[tuple[float, str]], float]:
        """Frames and captions on the video's own clock (stills shortened to MAX_HOLD_S), and its length."""
        if not self.frames:
            raise DemoError("Chromium sent no video frames (DevTools screencast); run with --no-video")
        start = min(f.at for f in self.frames)  # the video starts with the first frame
        events = sorted([(f.at, 0, f.path) for f in self.frames]
                        + [(max(t, start), 1, c) for t, c in self.captions], key=lambda e: (e[0], e[1]))
        frames, captions, clock, last = [], [], 0.0, start
        for at, kind, item in events:
            clock += min(at - last, MAX_HOLD_S)
            last = at
            if kind == 0:
                frames.append((clock, item))
            else:
                if captions and captions[-1][0] == clock:
                    captions.pop()  # two captions at one moment (before the first frame): the later one counts
                captions.append((clock, item))
        return frames, captions, clock + END_HOLD_S

    def encode(self, out: Path, ffmpeg: str) -> tuple[float, list[tuple[float, str]]]:
        """Write the MP4; its length in seconds and its chapters (start second, caption)."""
        frames, captions, length = self.timeline()
        cmd = [ffmpeg, "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{VIDEO_SIZE[0]}x{VIDEO_SIZE[1]}", "-r", str(FPS), "-i", "-",
               "-c:v", "libx264", "-preset", "slow", "-crf", str(VIDEO_CRF), "-tune", "animation",
               "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        fi = ci = -1
        shown: tuple[int, int] | None = None
        rgb = b""
        ticks = int(length * FPS)
        try:
            for n in range(ticks):
                t = n / FPS
                while fi + 1 < len(frames) and frames[fi + 1][0] <= t:
                    fi += 1
                while ci + 1 < len(captions) and captions[ci + 1][0] <= t:
                    ci += 1
                if (max(fi, 0), ci) != shown:
                    shown = (max(fi, 0), ci)
                    rgb = compose(frames[max(fi, 0)][1], captions[ci][1] if ci >= 0 else "").tobytes()
                proc.stdin.write(rgb)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise DemoError(f"ffmpeg could not encode the video: {err.strip()[-500:]}")
        return ticks / FPS, [(round(at, 1), text.partition("|")[2]) for at, text in captions]


_FONTS: dict[int, object] = {}


def _font(size: int):
    from PIL import ImageFont

    if size not in _FONTS:
        for path in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/Library/Fonts/Arial.ttf"):
            if Path(path).exists():
                _FONTS[size] = ImageFont.truetype(path, size)
                break
        else:
            _FONTS[size] = ImageFont.load_default(size=size)  # Pillow's own font
    return _FONTS[size]


def compose(frame_path: Path, caption: str):
    """One video frame: the page (a phone's narrow page centred in a frame) over a caption strip."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", VIDEO_SIZE, (24, 24, 32))
    page = Image.open(frame_path).convert("RGB")
    area_w, area_h = VIDEO_SIZE[0], VIDEO_SIZE[1] - CAPTION_H
    draw = ImageDraw.Draw(canvas)
    if page.width >= area_w * 0.8:  # a desktop page fills the area
        if page.size != (area_w, area_h):
            page = page.resize((area_w, area_h), Image.LANCZOS)
        canvas.paste(page, (0, 0))
    else:  # a phone: scaled to the area's height less a bezel, centred
        bezel = 10
        scale = (area_h - 2 * bezel - 16) / page.height
        page = page.resize((round(page.width * scale), round(page.height * scale)), Image.LANCZOS)
        x, y = (area_w - page.width) // 2, (area_h - page.height) // 2
        draw.rounded_rectangle((x - bezel, y - bezel, x + page.width + bezel, y + page.height + bezel),
                               radius=28, fill=(8, 8, 12), outline=(90, 90, 110), width=2)
        canvas.paste(page, (x, y))
    if caption:
        step, _, text = caption.partition("|")
        font, small = _font(24), _font(18)
        y = area_h + (CAPTION_H - 30) // 2
        draw.text((24, y + 4), step, fill=(167, 139, 250), font=small)
        draw.text((24 + draw.textlength(step, font=small) + 14, y), text, fill=(240, 240, 245), font=font)
    return canvas


# ---------------------------------------------------------------- the walk-through


class Walkthrough:
    def __init__(self, browser, base_url: str, out: Path, recorder: Recorder | None, pace: float,
                 log: Callable[[str], None]):
        self.browser = browser
        self.base_url = base_url.rstrip("/")
        self.out = out
        self.recorder = recorder
        self.pace = pace
        self.log = log
        self.shots: list[Path] = []
        self.errors: list[str] = []
        self.step = 0
        self.scene = ""

    # -- helpers

    def context(self, viewport: dict, **kwargs):
        phone = viewport is PHONE
        ctx = self.browser.new_context(base_url=self.base_url, viewport=viewport, device_scale_factor=1,
                                       is_mobile=phone, has_touch=phone, **kwargs)
        ctx.add_init_script(POINTER_JS)
        ctx.set_default_timeout(30_000)
        return ctx

    def page(self, ctx):
        page = ctx.new_page()
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        return page

    def film(self, page) -> None:
        """The video shows this page from now on (called once it shows something, not a blank start)."""
        if self.recorder:
            self.recorder.follow(page)

    def pause(self, page, seconds: float) -> None:
        page.wait_for_timeout(seconds * 1000 * self.pace)  # Playwright's wait: screencast frames keep coming

    def caption(self, text: str) -> None:
        self.step += 1
        self.scene = text
        label = f"{self.step}/{SCENES}|{text}"
        self.log(f"{self.step}. {text}")
        if self.recorder:
            self.recorder.caption(label)

    def glide(self, page, locator) -> None:
        """Move the drawn pointer onto the element (it glides there), then give the eye a moment."""
        locator.scroll_into_view_if_needed()
        box = locator.bounding_box()
        if box:
            page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            self.pause(page, 0.4)

    def click(self, page, locator) -> None:
        self.glide(page, locator)
        locator.click()

    def type(self, page, locator, text: str) -> None:
        self.click(page, locator)
        locator.press_sequentially(text, delay=max(5, 32 * self.pace))

    def shot(self, page, name: str) -> None:
        from PIL import Image

        assert name in SCREENSHOTS, name
        page.evaluate(POINTER_VISIBLE_JS, "hidden")  # the screenshots show the app alone
        png = page.screenshot(type="png")
        page.evaluate(POINTER_VISIBLE_JS, "visible")
        path = self.out / name
        Image.open(io.BytesIO(png)).convert("RGB").save(path, "WEBP", quality=SHOT_QUALITY, method=6)
        self.shots.append(path)
        self.log(f"   screenshot {name} ({path.stat().st_size // 1024} KiB)")

    def wait_images(self, page, selector: str, scope: str = "body") -> None:
        page.wait_for_function(IMAGES_LOADED_JS, arg=[scope, selector], timeout=GENERATION_TIMEOUT_MS)

    def ask(self, page, text: str):
        """Type a message, send it, and return its reply (the assistant message it adds)."""
        replies = page.locator(".assistant-message")
        before = replies.count()
        box = page.get_by_role("textbox", name="Prompt")
        self.type(page, box, text)
        self.pause(page, 0.5)
        box.press("Enter")
        reply = replies.nth(before)
        reply.wait_for()
        return reply

    def open_gallery(self, page) -> None:
        """Through the account menu, as a user does (no page load), until the thumbnails show."""
        self.click(page, page.locator("#user-menu"))
        self.pause(page, 0.4)
        self.click(page, page.locator("#menu-gallery"))
        page.wait_for_url(re.compile(r"/gallery"))
        page.wait_for_function(GALLERY_COUNTED_JS)
        self.wait_images(page, ".gallery-item img")

    # -- the scenes

    def run(self) -> tuple[str, str]:
        desktop = self.context(DESKTOP)
        try:
            page = self.page(desktop)
            user = self.sign_up(page)
            chat_url = self.chat(page)
            link = self.gallery_and_share(page)
            storage = desktop.storage_state()
        finally:
            desktop.close()
        self.shared_page(link)
        self.phone(storage, chat_url)
        return user, link

    def sign_up(self, page) -> str:
        self.caption("Sign up: a name and a password")
        page.goto("/login")
        tab = page.get_by_role("tab", name="Sign up")
        tab.wait_for()
        self.film(page)
        self.pause(page, 0.6)
        self.click(page, tab)
        closed = page.locator("#signup-closed")
        if closed.count() and closed.is_visible():
            raise DemoError("sign-up is closed on this app (ALLOW_SIGNUP=closed). Run the app with ALLOW_SIGNUP=open "
                            "for the demo (e.g. ALLOW_SIGNUP=open make run), then run make demo again")
        if page.locator("#signup-invite").count():
            raise DemoError("sign-up needs an invite code on this app (ALLOW_SIGNUP=invite). Run the app with "
                            "ALLOW_SIGNUP=open for the demo (e.g. ALLOW_SIGNUP=open make run)")
        name = f"demo_{uuid.uuid4().hex[:8]}"
        self.type(page, page.locator("#signup-username"), name)
        self.type(page, page.locator("#signup-password"), PASSWORD)
        self.pause(page, 0.4)
        self.click(page, page.locator("#signup-submit"))
        menu, error = page.locator("#user-menu"), page.locator("#auth-error")
        menu.or_(error).first.wait_for()
        if error.count() and error.is_visible():
            raise DemoError(f"sign-up was refused: {error.inner_text().strip()} (the app limits sign-ups per "
                            "address, SIGNUP_LIMIT_PER_ADDRESS; wait, or raise it while you record the demo)")
        page.wait_for_function("n => document.getElementById('user-menu')?.textContent.includes(n)", arg=name)
        self.pause(page, 0.6)
        return name

    def chat(self, page) -> str:
        self.caption("Ask for a picture: live progress, then the image in the chat")
        reply = self.ask(page, SUNSET)
        done = reply.locator(".job-done")
        page.wait_for_function(  # the first progress the worker reports (or the end, on a very fast machine)
            "() => { const r = [...document.querySelectorAll('.assistant-message')].pop();"
            " return r.querySelector('.job-done') || parseInt(r.querySelector('.job-percent')?.textContent) > 0; }",
            timeout=GENERATION_TIMEOUT_MS, polling="raf")
        if not done.count():
            self.shot(page, "01-progress-desktop.webp")
        done.wait_for(timeout=GENERATION_TIMEOUT_MS)
        self.wait_images(page, "img.generated-image", scope=".assistant-message")
        self.pause(page, 0.6)
        page.locator(".user-message").last.evaluate("el => el.scrollIntoView({block: 'start', behavior: 'smooth'})")
        self.pause(page, 1.2)
        self.shot(page, "02-image-desktop.webp")
        if "01-progress-desktop.webp" not in {p.name for p in self.shots}:
            raise DemoError("the image was finished before any progress could be captured")
        self.pause(page, 0.6)

        self.caption("\u201cmake it more like a watercolor painting\u201d: before and after")
        reply = self.ask(page, WATERCOLOR)
        pair = reply.locator(".before-after")
        pair.wait_for(timeout=GENERATION_TIMEOUT_MS)
        self.wait_images(page, "img.generated-image", scope=".before-after")
        page.evaluate("el => el.scrollIntoView({block: 'end'})", pair.element_handle())
        self.pause(page, 1.0)
        self.shot(page, "03-before-after-desktop.webp")
        self.pause(page, 1.0)
        return page.url

    def gallery_and_share(self, page) -> str:
        self.caption("The gallery: every image, searchable and filterable")
        self.open_gallery(page)
        self.pause(page, 0.5)
        self.type(page, page.get_by_role("textbox", name="Search images"), "lake")
        page.wait_for_function("() => document.querySelectorAll('.gallery-item mark').length > 0")
        self.wait_images(page, ".gallery-item img")
        self.pause(page, 1.0)
        self.shot(page, "04-gallery-desktop.webp")
        style = page.locator("#filter-style")
        self.glide(page, style)
        style.select_option("watercolor")
        page.wait_for_function("() => document.getElementById('gallery-count')?.textContent.trim() === '1 image'")
        self.wait_images(page, ".gallery-item img")
        self.pause(page, 0.8)

        self.caption("Detail view: drag the slider to compare before and after")
        self.click(page, page.locator(".gallery-item .gallery-open").first)
        view = page.locator("#image-detail")
        view.wait_for()
        self.wait_images(page, "img.detail-image", scope="#image-detail")
        self.pause(page, 0.8)
        self.click(page, page.locator("#detail-compare-toggle"))
        slider = view.locator(".compare-slider")
        slider.wait_for()
        self.wait_images(page, ".compare-slider img")
        self.pause(page, 0.6)
        box = slider.bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(box["x"] + box["width"] * 0.5, y)
        self.pause(page, 0.5)
        page.mouse.down()
        at = 0.5
        for target in (0.15, 0.65):  # drag across, slowly enough to see both pictures
            for k in range(1, 11):
                page.mouse.move(box["x"] + box["width"] * (at + (target - at) * k / 10), y)
                self.pause(page, 0.05)
            at = target
            self.pause(page, 0.4)
        page.mouse.up()
        self.pause(page, 0.5)
        self.shot(page, "05-compare-desktop.webp")

        self.caption("Share a link to the image")
        self.click(page, page.locator("#detail-share"))
        dialog = page.locator("#share-dialog")
        dialog.wait_for()
        url = page.locator("#share-url")
        page.wait_for_function("() => /\\/s\\/[A-Za-z0-9_-]+$/.test(document.getElementById('share-url').value)")
        link = url.input_value()
        self.glide(page, url)
        self.pause(page, 1.2)
        self.click(page, dialog.get_by_role("button", name="Done"))
        dialog.wait_for(state="detached")
        self.pause(page, 0.4)
        return link

    def shared_page(self, link: str) -> None:
        self.caption("Someone without an account opens the link")
        ctx = self.context(DESKTOP)  # a fresh context: no cookies, no session
        try:
            page = self.page(ctx)
            response = page.goto(link)
            if not response or response.status != 200:
                raise DemoError(f"the share link answered {response.status if response else 'nothing'}: {link}")
            self.wait_images(page, ".frame img")
            self.film(page)
            self.pause(page, 0.8)
            self.shot(page, "06-shared-desktop.webp")
            self.pause(page, 0.8)
        finally:
            ctx.close()

    def phone(self, storage: dict, chat_url: str) -> None:
        self.caption("The same on a phone: the chat, its menu, the gallery")
        ctx = self.context(PHONE, storage_state=storage)
        try:
            page = self.page(ctx)
            page.goto(chat_url)
            page.locator(".before-after").wait_for()
            self.wait_images(page, "img.generated-image", scope=".before-after")
            self.film(page)
            self.pause(page, 0.6)
            pair = page.locator(".before-after").last
            page.evaluate("el => el.scrollIntoView({block: 'center'})", pair.element_handle())
            self.pause(page, 0.8)
            self.shot(page, "07-chat-phone.webp")
            self.click(page, page.locator("#menu-button"))
            drawer = page.locator("#conversation-list").last
            drawer.wait_for()
            self.pause(page, 1.2)
            page.keyboard.press("Escape")
            self.pause(page, 0.5)
            self.open_gallery(page)
            self.pause(page, 1.0)
            self.shot(page, "08-gallery-phone.webp")
            self.pause(page, 1.0)
        finally:
            if self.recorder:
                self.recorder.stop()
            ctx.close()


def record(browser, base_url: str, out: Path, *, video: bool = True, pace: float = 1.0,
           ffmpeg: str | None = None, log: Callable[[str], None] = print) -> DemoResult:
    """Run the walk-through against the app at base_url with an open Playwright `browser`; write the
    screenshots (and, with video, demo.mp4) into `out`, replacing those of an earlier run."""
    ffmpeg = ffmpeg or shutil.which("ffmpeg")
    if video and not ffmpeg:
        raise DemoError(ffmpeg_missing())
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="imagechat-demo-") as tmp:
        staging = Path(tmp) / "out"
        frames = Path(tmp) / "frames"
        staging.mkdir()
        frames.mkdir()
        recorder = Recorder(frames) if video else None
        walk = Walkthrough(browser, base_url, staging, recorder, pace, log)
        try:
            user, link = walk.run()
        except DemoError:
            raise
        except Exception as exc:  # noqa: BLE001 - a Playwright timeout or error: name the scene it stopped in
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DemoError(f"the walk-through stopped in scene {walk.step} ({walk.scene}): {first}. If it was "
                            "waiting for an image, is the worker running (make run starts it)? The app's logs are "
                            "in .data/logs/") from exc
        seconds, chapters = 0.0, []
        if recorder:
            log(f"encoding {len(recorder.frames)} frames with ffmpeg")
            seconds, chapters = recorder.encode(staging / VIDEO, ffmpeg)
        for old in out.iterdir():
            if old.is_file() and OWN_FILE.match(old.name):
                old.unlink()
        for made in staging.iterdir():
            shutil.move(made, out / made.name)
    return DemoResult(user=user, share_link=link, screenshots=[out / p.name for p in walk.shots],
                      video=out / VIDEO if video else None, video_seconds=seconds, chapters=chapters,
                      page_errors=walk.errors)


def ffmpeg_missing() -> str:
    return ("ffmpeg is needed to encode the video and was not found. Install it: sudo apt-get install ffmpeg "
            "(Debian/Ubuntu) or brew install ffmpeg (macOS); or run with --no-video for the screenshots only")


def app_answers(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(base_url.rstrip("/") + "/ping", timeout=5) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Record a walk-through of a running imagechat (make demo).")
    parser.add_argument("--url", default=os.environ.get("DEMO_URL") or DEFAULT_URL,
                        help="the running app (default: DEMO_URL or %(default)s)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory (default: docs/demo)")
    parser.add_argument("--no-video", action="store_true", help="screenshots only (no ffmpeg needed)")
    parser.add_argument("--pace", type=float, default=1.0, help="pauses and typing: 1 = for viewers, 0.3 = fast")
    args = parser.parse_args(argv)

    def fail(message: str) -> int:
        print(f"\033[1;31m[demo]\033[0m {message}", file=sys.stderr)
        return 1

    if not app_answers(args.url):
        return fail(f"no imagechat app answers at {args.url}. Start it first in another terminal with `make run` "
                    "(or point the demo elsewhere: make demo DEMO_URL=http://127.0.0.1:3001), then run make demo "
                    "again")
    if not args.no_video and not shutil.which("ffmpeg"):
        return fail(ffmpeg_missing())
    if not Path(CHROMIUM).exists():
        return fail(f"Chromium is missing at {CHROMIUM}: sudo apt-get install chromium (or set CHROMIUM_PATH)")
    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    print(f"[demo] recording a walk-through of {args.url} into {args.out}", file=sys.stderr)
    try:
        with sync_playwright() as pw:
            try:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            except Exception as exc:  # noqa: BLE001 - say it in one line, without a traceback
                raise DemoError(f"Chromium ({CHROMIUM}) did not start: {str(exc).strip().splitlines()[0]}") from exc
            try:
                result = record(browser, args.url, args.out, video=not args.no_video, pace=args.pace,
                                log=lambda line: print(f"[demo] {line}", file=sys.stderr))
            finally:
                browser.close()
    except DemoError as exc:
        return fail(str(exc))
    files = [*result.screenshots, *([result.video] if result.video else [])]
    total = sum(p.stat().st_size for p in files)
    for p in files:
        print(f"  {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}  {p.stat().st_size / 1024:.0f} KiB",
              file=sys.stderr)
    video = f", video {result.video_seconds:.0f} s" if result.video else ""
    for at, text in result.chapters:
        print(f"  {int(at) // 60}:{int(at) % 60:02d}  {text}", file=sys.stderr)
    print(f"[demo] done in {time.monotonic() - started:.0f} s: {len(files)} files, {total / 1e6:.1f} MB{video}. "
          f"Demo account: {result.user} / {PASSWORD} (it stays in the app's database)", file=sys.stderr)
    for error in result.page_errors:
        print(f"[demo] page error: {error}", file=sys.stderr)
    return 1 if result.page_errors else 0


if __name__ == "__main__":
    sys.exit(main())
