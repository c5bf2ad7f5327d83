"""/healthz, /readyz and /metrics on the prod app's one port, next to its pages and websocket; a job watched in a
real tab adds to the progress fan-out latency histogram (the state's watcher records it)."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import Page, expect
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.helpers import send, sign_up
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e


def _get(url: str) -> tuple[int, dict[str, str], str]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read().decode()


def _fanout_count(base_url: str) -> float:
    status, _headers, text = _get(f"{base_url}/metrics")  # from 127.0.0.1: this machine may read it
    assert status == 200
    (count,) = [s.value for family in text_string_to_metric_families(text) for s in family.samples
                if s.name == "imagechat_progress_fanout_seconds_count"]
    return count


def test_health_ready_and_metrics_on_the_apps_port(page: Page, base_url, console_errors):
    status, headers, body = _get(f"{base_url}/healthz")
    assert (status, json.loads(body), headers["cache-control"]) == (200, {"status": "ok"}, "no-store")
    assert "content-security-policy" in headers  # the app's security middleware covers these routes too

    status, headers, body = _get(f"{base_url}/readyz")  # the fixture started a worker
    assert status == 200 and headers["cache-control"] == "no-store"
    assert json.loads(body) == {"status": "ready", "checks": {"postgres": "ok", "redis": "ok", "workers": "ok"}}

    before = _fanout_count(base_url)
    sign_up(page)
    send(page, "Create an image of a lighthouse at dusk")
    reply = page.locator(".assistant-message").last
    expect(reply.locator("img.generated-image")).to_be_visible(timeout=60_000)
    # The tab's watcher delivered at least the job's last event to its state, live over pub/sub.
    wait_until(lambda: _fanout_count(base_url) > before, 10, "the tab's deliveries on /metrics")
    assert console_errors == []
