"""`python -m imagechat` as a user runs it: a real process, the real worker, files on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid

from PIL import Image

from tests.support.services import ROOT


def _cli(*args, env=None, timeout=120):
    return subprocess.run([sys.executable, "-m", "imagechat", *args], cwd=ROOT, env=env or os.environ.copy(),
                          capture_output=True, text=True, timeout=timeout)


def test_generate_list_and_export(worker, tmp_path):
    user = f"cli_{uuid.uuid4().hex[:8]}"
    out = tmp_path / "sunset.png"
    run = _cli("--user", user, "generate", "a sunset over mountains with a lake reflection", "--style", "watercolor",
               "--size", "1792x1024", "--seed", "3", "--out", str(out))
    assert run.returncode == 0, run.stderr
    assert "100.0%" in run.stderr and "Done" in run.stderr  # the progress bar reached the end
    image_id = run.stdout.split()[0]
    with Image.open(out) as pic:
        assert (pic.format, pic.size) == ("PNG", (1792, 1024))

    listed = _cli("--user", user, "images", "list", "--search", "lakes")
    assert listed.returncode == 0 and image_id in listed.stdout and "watercolor" in listed.stdout
    assert _cli("--user", f"other_{uuid.uuid4().hex[:6]}", "images", "list").stdout.strip() == ""

    webp = tmp_path / "sunset.webp"
    exported = _cli("--user", user, "images", "export", image_id, "--format", "webp", "--out", str(webp))
    assert exported.returncode == 0, exported.stderr
    assert webp.read_bytes()[8:12] == b"WEBP"


def test_bad_input_gets_a_clear_message_and_exit_code(database_url, redis_url):
    run = _cli("generate", "   ", "--out", "/tmp/never.png")
    assert run.returncode == 2 and "error: The prompt is empty" in run.stderr and "Traceback" not in run.stderr
    bad_size = _cli("generate", "a boat", "--size", "huge")
    assert bad_size.returncode == 2 and "use WIDTHxHEIGHT" in bad_size.stderr
    other = _cli("images", "export", str(uuid.uuid4()))
    assert other.returncode == 2 and "doesn't exist, or it isn't yours" in other.stderr
