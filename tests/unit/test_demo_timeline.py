"""The demo recorder's clock and frames (scripts/demo.py): stills are shortened to MAX_HOLD_S, captions keep their
place between frames, and a phone page is centred on the canvas over the caption strip."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo():
    spec = importlib.util.spec_from_file_location("imagechat_demo_script", ROOT / "scripts" / "demo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def _jpeg(path: Path, size: tuple[int, int], colour: tuple[int, int, int]) -> Path:
    Image.new("RGB", size, colour).save(path, "JPEG", quality=95)
    return path


def test_timeline_shortens_stills_and_keeps_captions_in_place(demo, tmp_path):
    rec = demo.Recorder(tmp_path)
    a = _jpeg(tmp_path / "a.jpg", (1280, 800), (200, 30, 30))
    b = _jpeg(tmp_path / "b.jpg", (1280, 800), (30, 200, 30))
    c = _jpeg(tmp_path / "c.jpg", (390, 844), (30, 30, 200))
    rec.captions = [(99.0, "0/3|too early"), (99.5, "1/3|first")]
    rec.frames = [demo._Frame(100.0, a), demo._Frame(100.5, b), demo._Frame(130.0, c)]  # 29.5 s of nothing
    rec.captions.append((101.0, "2/3|second"))
    frames, captions, length = rec.timeline()
    assert [round(t, 2) for t, _ in frames] == [0.0, 0.5, round(1.0 + demo.MAX_HOLD_S, 2)]
    assert captions == [(0.0, "1/3|first"), (1.0, "2/3|second")]  # only the last caption before the first frame
    assert length == pytest.approx(frames[-1][0] + demo.END_HOLD_S)

    ffmpeg = demo.shutil.which("ffmpeg")
    assert ffmpeg, "ffmpeg is missing: sudo apt-get install ffmpeg (make test installs it when run as root)"
    out = tmp_path / "v.mp4"
    seconds, chapters = rec.encode(out, ffmpeg)
    assert out.stat().st_size > 1000
    assert seconds == pytest.approx(length, abs=1 / demo.FPS)
    assert chapters == [(0.0, "first"), (1.0, "second")]


def test_compose_desktop_fills_phone_is_centred(demo, tmp_path):
    desk = demo.compose(_jpeg(tmp_path / "d.jpg", (1280, 800), (250, 250, 250)), "1/8|Sign up")
    phone = demo.compose(_jpeg(tmp_path / "p.jpg", (390, 844), (250, 250, 250)), "8/8|The same on a phone")
    assert desk.size == phone.size == demo.VIDEO_SIZE
    assert desk.getpixel((40, 400)) == (250, 250, 250)
    assert phone.getpixel((40, 400)) == (24, 24, 32)  # the canvas beside the phone
    assert min(phone.getpixel((640, 400))) > 240  # the phone's page in the middle
    strip = desk.crop((0, 800, 1280, 856))
    assert strip.getextrema()[0][1] > 200  # caption text drawn on the dark strip
