"""`make demo` (scripts/demo.py) against the e2e app, as a user runs it: the whole walk-through (sign up, the two
sample requests with live progress and before/after, the gallery with search, filter and the compare slider,
a share link opened without an account, the phone layout) writes its eight screenshots at their sizes and an
H.264 video that decodes, with its eight chapters in order, desktop and phone frames where they belong. Files
of an earlier run are replaced; other files in the directory are kept. Without an app it says to start one.

ffmpeg is required (scripts/test.sh installs it like Chromium): a missing one fails the test, never skips it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from tests.e2e.conftest import CHROMIUM, ROOT, _free_port

pytestmark = pytest.mark.e2e

DEMO = ROOT / "scripts" / "demo.py"
SHOTS = {
    "01-progress-desktop.webp": (1280, 800),
    "02-image-desktop.webp": (1280, 800),
    "03-before-after-desktop.webp": (1280, 800),
    "04-gallery-desktop.webp": (1280, 800),
    "05-compare-desktop.webp": (1280, 800),
    "06-shared-desktop.webp": (1280, 800),
    "07-chat-phone.webp": (390, 844),
    "08-gallery-phone.webp": (390, 844),
}
CHAPTER = re.compile(r"^\s+(\d+):(\d\d)  (.+)$", re.M)
CANVAS = (24, 24, 32)  # the video's background around a phone page


def _demo(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHROMIUM_PATH": CHROMIUM}
    return subprocess.run([sys.executable, str(DEMO), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


def _ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if not path or not shutil.which("ffprobe"):
        pytest.fail("ffmpeg is missing: sudo apt-get install ffmpeg (make test installs it when run as root)")
    return path


def _frame(video: Path, second: float, out: Path) -> Image.Image:
    subprocess.run([_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-ss", f"{second:.2f}", "-i", str(video),
                    "-frames:v", "1", str(out)], check=True, timeout=60)
    return Image.open(out).convert("RGB")


def _differ(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b).convert("L")).mean)


def test_demo_says_to_start_the_app_first(tmp_path):
    result = _demo("--url", f"http://127.0.0.1:{_free_port()}", "--out", str(tmp_path / "demo"), timeout=60)
    assert result.returncode == 1
    assert "no imagechat app answers" in result.stderr and "make run" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "demo").exists()


def test_demo_records_the_walkthrough(base_url: str, tmp_path):
    _ffmpeg()
    out = tmp_path / "demo"
    out.mkdir()
    (out / "09-old-desktop.webp").write_bytes(b"an earlier run")  # a demo file: replaced by this run
    (out / "notes.txt").write_text("kept")  # not the demo's: kept

    result = _demo("--url", base_url, "--out", str(out), "--pace", "0.3")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "page error" not in result.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([*SHOTS, "demo.mp4", "notes.txt"])
    user = re.search(r"Demo account: (demo_[0-9a-f]{8}) / ", result.stderr)
    assert user, result.stderr[-2000:]

    for name, size in SHOTS.items():
        path = out / name
        image = Image.open(path)
        assert image.format == "WEBP" and image.size == size, name
        assert 5_000 < path.stat().st_size < 400_000, (name, path.stat().st_size)
        assert ImageStat.Stat(image.convert("L")).stddev[0] > 10, f"{name} is (nearly) one colour"

    video = out / "demo.mp4"
    assert video.stat().st_size < 8_000_000
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(video)],
        check=True, capture_output=True, text=True, timeout=60).stdout)
    stream = probe["streams"][0]
    assert (stream["codec_name"], stream["width"], stream["height"], stream["pix_fmt"]) == ("h264", 1280, 856,
                                                                                          "yuv420p")
    duration = float(probe["format"]["duration"])
    assert duration > 10

    # Eight chapters, in order, inside the video.
    chapters = [(int(m) * 60 + int(s), text) for m, s, text in CHAPTER.findall(result.stderr)]
    assert [text.split(":")[0] for _, text in chapters] == [
        "Sign up", "Ask for a picture", "\u201cmake it more like a watercolor painting\u201d", "The gallery",
        "Detail view", "Share a link to the image", "Someone without an account opens the link",
        "The same on a phone"]
    starts = [at for at, _ in chapters]
    assert starts == sorted(starts) and starts[0] == 0 and starts[-1] < duration

    # A desktop page fills the frame; a phone page sits in the middle of the dark canvas.
    sign_up = _frame(video, 1.0, tmp_path / "sign-up.png")
    before_after = _frame(video, (starts[3] + starts[2]) / 2 + 0.5, tmp_path / "before-after.png")
    phone = _frame(video, duration - 0.5, tmp_path / "phone.png")
    for frame in (sign_up, before_after, phone):
        assert frame.size == (1280, 856)
    for x, y in ((40, 400), (1240, 400)):
        assert all(abs(c - k) <= 12 for c, k in zip(phone.getpixel((x, y)), CANVAS, strict=True)), "phone canvas"
        assert sign_up.getpixel((x, y)) != phone.getpixel((x, y))
    assert _differ(phone.crop((500, 100, 780, 700)), Image.new("RGB", (280, 600), CANVAS)) > 20  # the page shows
    assert _differ(sign_up, before_after) > 5
    # Each frame carries its chapter's caption in the strip under the page.
    strips = [f.crop((0, 800, 1280, 856)) for f in (sign_up, before_after, phone)]
    assert _differ(strips[0], strips[1]) > 1 and _differ(strips[1], strips[2]) > 1
