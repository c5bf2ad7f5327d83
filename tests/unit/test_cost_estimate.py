"""The estimate shown before a request is sent (offline: no network, no database)."""

from __future__ import annotations

from datetime import date

import pytest

from imagechat.core import costs
from imagechat.core.errors import InvalidRequest
from imagechat.core.providers.openai_images import OpenAIProvider
from imagechat.core.request import ImageRequest
from imagechat.settings import Settings


@pytest.mark.parametrize("engine,model", [("offline", "painter"), ("diffusers", "stable-diffusion-v1-5")])
def test_local_engines_cost_nothing(engine, model):
    est = costs.estimate(engine, model, 1024, 1024, "high", 3, "a lighthouse")
    assert (est.usd_upper_bound, est.usd_expected) == (0.0, 0.0)
    assert est.label == f"$0 · {model} · 3 × 1024×1024"


def test_openai_estimate_label_and_figures():
    est = costs.estimate("openai", "gpt-image-2", 1024, 1024, "medium", 1, "a red fox in the snow")
    assert est.label == "≈ $0.05 · gpt-image-2 · 1024×1024 · medium"
    assert est.published and (est.width, est.height) == (1024, 1024)
    text = "a red fox in the snow"
    assert est.usd_upper_bound == pytest.approx(0.053 + len(text) * 5e-6)  # bytes bound the tokens
    assert est.usd_expected == pytest.approx(0.053 + 6 * 5e-6)  # about four characters a token
    assert est.usd_expected <= est.usd_upper_bound


def test_the_estimate_is_for_the_size_the_model_makes():
    wide = costs.estimate("openai", "gpt-image-1", 1792, 1024, "low", 2, "x")
    assert (wide.width, wide.height) == (1536, 1024)
    assert wide.label == "≈ $0.03 · gpt-image-1 · 2 × 1536×1024 · low"
    native = costs.estimate("openai", "gpt-image-2", 1792, 1024, "high", 1, "x")
    assert (native.width, native.height) == (1792, 1024)
    assert native.usd_expected == pytest.approx(0.165 * 1792 / 1536 + 5e-6)
    assert native.usd_upper_bound == pytest.approx(0.211 * 1.75 + 5e-6)


def test_unpublished_prices_show_an_upper_bound():
    est = costs.estimate("openai", "gpt-image-2.5-sunburst", 1024, 1024, "high", 1, "x")
    assert not est.published and est.usd_expected == est.usd_upper_bound
    assert est.label == "≤ $0.21 · gpt-image-2.5-sunburst · 1024×1024 · high"


@pytest.mark.parametrize("request_", [
    ImageRequest("a harbour at dawn", quality="medium"),
    ImageRequest("a harbour at dawn", quality="auto", n=3, width=1792, height=1024, style="watercolor"),
    ImageRequest("x", quality="low", width=700, height=2000),
])
def test_upper_bound_is_what_the_engine_reserves(request_):
    settings = Settings(_env_file=None, openai_api_key="sk-test", openai_image_model="gpt-image-2")
    provider = OpenAIProvider(settings, today=date(2026, 12, 7))
    est = costs.estimate("openai", "gpt-image-2", request_.width, request_.height, request_.quality, request_.n,
                         request_.prompt, style=request_.style)
    assert est.usd_upper_bound == pytest.approx(provider.estimate_cost(request_))
    edit = costs.estimate("openai", "gpt-image-2", 1024, 1024, "low", 1, "p", edit=True)
    assert edit.usd_upper_bound == pytest.approx(provider.estimate_cost(ImageRequest("p", quality="low",
                                                                                     source_image=b"x")))


@pytest.mark.parametrize("args", [
    ("teleporter", "", 1024, 1024, "low", 1, "p"),
    ("openai", "gpt-image-2", 0, 1024, "low", 1, "p"),
    ("openai", "gpt-image-2", "1024", 1024, "low", 1, "p"),
    ("openai", "gpt-image-2", 1024, 1024, "low", 0, "p"),
    ("openai", "gpt-image-2", 1024, 1024, "low", True, "p"),
    ("offline", "painter", 1024, 10**9, "low", 1, "p"),
])
def test_bad_arguments_are_invalid_requests(args):
    with pytest.raises(InvalidRequest):
        costs.estimate(*args)


def test_bad_style_is_an_invalid_request():
    with pytest.raises(InvalidRequest):
        costs.estimate("openai", "gpt-image-2", 1024, 1024, "low", 1, "p", style="<b>nope</b>")


def test_money_format():
    assert [costs.usd(v) for v in (0, 0.006, 0.0531, 1.249, 12.5)] == ["$0", "$0.006", "$0.05", "$1.25", "$12.50"]
