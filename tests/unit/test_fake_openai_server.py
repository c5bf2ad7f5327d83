"""The fake Images API itself: wire format, errors, fault knobs, and the standalone process."""

from __future__ import annotations

import base64
import io
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
AUTH = {"Authorization": "Bearer sk-x"}


pytestmark = pytest.mark.usefixtures("clean_fake")


def post(fake, body, headers=AUTH, path="/images/generations"):
    return httpx.post(fake.base_url + path, json=body, headers=headers, timeout=10)


def test_missing_bearer_token_is_401_with_openai_error_body(fake):
    r = post(fake, {"model": "gpt-image-2", "prompt": "p"}, headers={})
    assert r.status_code == 401
    assert set(r.json()["error"]) == {"message", "type", "param", "code"}
    basic = {"Authorization": "Basic abc"}
    assert post(fake, {"model": "gpt-image-2", "prompt": "p"}, headers=basic).status_code == 401


@pytest.mark.parametrize("body,status,param,code", [
    ({"model": "dall-e-3", "prompt": "p"}, 404, None, "model_not_found"),
    ({"model": "gpt-image-1", "prompt": "p"}, 404, None, "model_not_found"),  # shut down on 2026-10-23
    ({"model": "gpt-image-3", "prompt": "p"}, 404, None, "model_not_found"),
    ({"model": "gpt-image-2", "prompt": "p", "n": 11}, 400, "n", "integer_above_max_value"),
    ({"model": "gpt-image-2.6-flare", "prompt": "p", "size": "1792x1024"}, 400, "size", "invalid_value"),
    ({"model": "gpt-image-2", "prompt": "p", "size": "1000x1000"}, 400, "size", "invalid_value"),
    ({"model": "gpt-image-2", "prompt": "p", "size": "3840x2176"}, 400, "size", "invalid_value"),
    ({"model": "gpt-image-2", "prompt": "p", "quality": "xhigh"}, 400, "quality", "invalid_value"),
    ({"model": "gpt-image-2", "prompt": "p", "response_format": "url"}, 400, "response_format", "unknown_parameter"),
    ({"model": "gpt-image-2", "prompt": " "}, 400, "prompt", "missing_required_parameter"),
])
def test_validation_errors(fake, body, status, param, code):
    fake.today = date(2026, 12, 7)
    r = post(fake, body)
    assert r.status_code == status
    err = r.json()["error"]
    assert (err["param"], err["code"]) == (param, code)


def test_generation_body_shape_and_image(fake):
    r = post(fake, {"model": "gpt-image-2", "prompt": "a boat", "size": "1792x1024", "output_format": "jpeg",
                    "quality": "high"})
    body = r.json()
    assert r.status_code == 200 and {"created", "data", "usage", "size", "quality", "output_format"} <= set(body)
    img = Image.open(io.BytesIO(base64.b64decode(body["data"][0]["b64_json"])))
    assert (img.format, img.size, body["size"], body["quality"]) == ("JPEG", (1792, 1024), "1792x1024", "high")
    assert body["usage"]["total_tokens"] == body["usage"]["input_tokens"] + body["usage"]["output_tokens"]


def test_prompts_draw_different_pictures(fake):
    a = post(fake, {"model": "gpt-image-2", "prompt": "a cat"}).json()["data"][0]["b64_json"]
    b = post(fake, {"model": "gpt-image-2", "prompt": "a dog"}).json()["data"][0]["b64_json"]
    assert a != b


def test_prompt_keyword_fails_first_k_requests_only(fake):
    body = {"model": "gpt-image-2", "prompt": "sun [fail:500*2]"}
    assert [post(fake, body).status_code for _ in range(3)] == [500, 500, 200]


def test_rate_limit_headers(fake):
    fake.script("429:retry_after=3")
    r = post(fake, {"model": "gpt-image-2", "prompt": "p"})
    assert r.status_code == 429 and r.headers["retry-after"] == "3"
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    assert r.json()["error"]["code"] == "rate_limit_exceeded"


def test_edit_with_mask_changes_only_the_transparent_area(fake):
    src, mask = io.BytesIO(), io.BytesIO()
    Image.new("RGB", (1024, 1024), (200, 40, 40)).save(src, "PNG")
    m = Image.new("RGBA", (1024, 1024), (0, 0, 0, 255))
    m.paste((0, 0, 0, 0), (0, 0, 512, 1024))  # left half transparent: edit there
    m.save(mask, "PNG")
    with openai.OpenAI(api_key="sk-x", base_url=fake.base_url, max_retries=0) as client:
        r = client.images.edit(image=("s.png", src.getvalue(), "image/png"),
                               mask=("m.png", mask.getvalue(), "image/png"),
                               prompt="blue", model="gpt-image-2", size="1024x1024")
    out = Image.open(io.BytesIO(base64.b64decode(r.data[0].b64_json))).convert("RGB")
    assert out.getpixel((800, 300)) == (200, 40, 40)
    assert out.getpixel((200, 300)) != (200, 40, 40)
    # Every kept pixel is the source's, the caption band included: a test can check a mask's effect exactly.
    assert out.crop((512, 0, 1024, 1024)).getcolors() == [(512 * 1024, (200, 40, 40))]
    assert len(out.crop((0, 0, 512, 1024)).getcolors(1 << 20)) > 2  # the painted half is redrawn
    assert [f["field"] for f in fake.requests[-1].files] == ["image", "mask"]


def _png(img: Image.Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt)
    return buf.getvalue()


@pytest.mark.parametrize("mask, message", [
    (lambda: _png(Image.new("RGB", (256, 256)), "JPEG"), "must be a PNG"),
    (lambda: _png(Image.new("RGBA", (256, 256)), "WEBP"), "must be a PNG"),
    (lambda: _png(Image.new("RGB", (256, 256))), "no alpha channel"),
    (lambda: _png(Image.new("RGBA", (128, 256))), "mask size does not match image size"),
    (lambda: _png(Image.frombytes("RGBA", (1100, 1100), os.urandom(1100 * 1100 * 4))), "file too large"),
    (lambda: b"\x89PNG\r\n\x1a\n broken", "unsupported image"),
])
def test_a_mask_the_api_would_refuse_is_a_400_with_openais_error_body(fake, mask, message):
    files = {"image": ("s.png", _png(Image.new("RGB", (256, 256))), "image/png"),
             "mask": ("m.png", mask(), "image/png")}
    r = httpx.post(fake.base_url + "/images/edits", headers=AUTH, files=files,
                   data={"model": "gpt-image-2", "prompt": "a boat"}, timeout=30)
    assert r.status_code == 400
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == "mask"
    assert message in error["message"] and error["type"] == "invalid_request_error"


def test_latency_range_draws_each_request_its_own_delay(fake):
    """--latency 2 --latency-max 5 (benchmarks/bench_scale.py): every answer waits a uniform draw in the range."""
    assert httpx.post(fake.base_url.removesuffix("/v1") + "/_fake/config",
                      json={"latency_s": 0.01, "latency_max_s": 0.05}).json() == {"ok": True}
    draws = [fake.latency() for _ in range(300)]
    assert all(0.01 <= d <= 0.05 for d in draws)
    assert min(draws) < 0.02 and max(draws) > 0.04  # spread over the range, not one fixed value
    assert post(fake, {"model": "gpt-image-2", "prompt": "p", "quality": "low"}).status_code == 200
    fake.reset()
    assert fake.latency_max_s is None and fake.latency() == 0.0


def test_standalone_process_with_admin_api(tmp_path):
    port_file = tmp_path / "port"
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", "0",
                             "--port-file", str(port_file)], cwd=ROOT, stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, text=True)
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists() or not port_file.read_text():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        base = f"http://127.0.0.1:{port_file.read_text()}"
        assert proc.stdout.readline().strip() == f"FAKE_OPENAI_BASE_URL={base}/v1"
        assert httpx.post(base + "/_fake/script", json={"faults": ["500"]}).json() == {"ok": True}
        with openai.OpenAI(api_key="sk-standalone", base_url=base + "/v1", max_retries=1) as client:
            assert client.images.generate(model="gpt-image-2", prompt="p", quality="low").data[0].b64_json
        log = httpx.get(base + "/_fake/requests").json()["requests"]
        assert [r["status"] for r in log] == [500, 200]
        assert all(r["headers"]["authorization"] == "Bearer ***" for r in log)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        proc.stdout.close()
