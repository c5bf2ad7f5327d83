"""The image model table: size rules, prices, snapshots, shutdowns (no network, no database)."""

from __future__ import annotations

from datetime import date

import pytest

from imagechat.core.errors import EngineUnavailable
from imagechat.core.providers import image_models as im
from imagechat.core.providers import openai_pricing

TODAY = date(2026, 12, 7)


# ---- sizes ----
@pytest.mark.parametrize("model,asked,made", [
    ("gpt-image-2", (1792, 1024), (1792, 1024)),  # native: any multiple of 16 within the limits
    ("gpt-image-2", (1024, 1792), (1024, 1792)),
    ("gpt-image-2", (512, 512), (816, 816)),  # raised to the minimum pixel count
    ("gpt-image-2.5-flare", (1792, 1024), (1792, 1024)),
    ("gpt-image-2-2026-04-21", (1792, 1024), (1792, 1024)),
    ("gpt-image-1", (1792, 1024), (1536, 1024)),  # the older models snap to their three sizes
    ("gpt-image-1", (1024, 1792), (1024, 1536)),
    ("gpt-image-1.5", (512, 512), (1024, 1024)),
    ("gpt-image-1-mini", (1000, 3000), (1024, 1536)),
    ("gpt-image-2.6-sunburst", (1792, 1024), (1536, 1024)),  # no published rule: standard sizes only
    ("gpt-image-9", (1792, 1024), (1536, 1024)),  # not in the table: standard sizes only
])
def test_size_snapping_per_model(model, asked, made):
    spec = im.model_for(model)
    assert spec.snap_size(*asked) == made
    assert spec.accepts_size(*made)


def test_flexible_rule_limits():
    rule = im.model_for("gpt-image-2").sizes
    for ok in [(1792, 1024), (3840, 2160), (2160, 3840), (1024, 1024), (2400, 800), (816, 816)]:
        assert rule.accepts(*ok), ok
    for bad in [(1000, 1000),  # not multiples of 16
                (3840, 2176),  # more pixels than 3840x2160
                (4096, 1024),  # edge above 3840
                (2560, 816),  # aspect above 3:1
                (800, 800),  # fewer than 655,360 pixels
                (0, 1024), (-16, 1024)]:
        assert not rule.accepts(*bad), bad


@pytest.mark.parametrize("w,h", [(1, 1), (9000, 9000), (5000, 200), (200, 5000), (1000, 1000), (3841, 2161),
                                 (1366, 768), (2048, 2048)])
def test_flexible_snapping_always_lands_on_an_accepted_size_of_the_same_shape(w, h):
    spec = im.model_for("gpt-image-2")
    sw, sh = spec.snap_size(w, h)
    assert spec.accepts_size(sw, sh)
    asked, made = min(max(w / h, 1 / 3), 3), sw / sh
    assert abs(made - asked) / asked < 0.05


def test_fixed_models_accept_exactly_the_standard_sizes():
    spec = im.model_for("gpt-image-1")
    assert [wh for wh in [(1024, 1024), (1536, 1024), (1024, 1536), (1792, 1024), (1024, 1792), (512, 512)]
            if spec.accepts_size(*wh)] == [(1024, 1024), (1536, 1024), (1024, 1536)]
    assert spec.presets == im.STANDARD_SIZES
    assert im.model_for("gpt-image-2").presets == im.STANDARD_SIZES + ((1792, 1024), (1024, 1792))


def test_not_an_image_size_is_refused():
    from imagechat.core.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="0x10 is not an image size"):
        im.model_for("gpt-image-2").snap_size(0, 10)


# ---- snapshots and qualities ----
def test_dated_snapshots_map_to_their_family():
    assert im.lookup("gpt-image-2-2026-04-21") is im.IMAGE_MODELS["gpt-image-2"]
    assert im.lookup("gpt-image-1.5-2025-12-16") is im.IMAGE_MODELS["gpt-image-1.5"]
    assert im.lookup("gpt-image-2.5-sunburst-2026-09-08") is im.IMAGE_MODELS["gpt-image-2.5-sunburst"]
    assert im.lookup("gpt-image-1-mini") is im.IMAGE_MODELS["gpt-image-1-mini"]  # not gpt-image-1's snapshot
    for not_a_snapshot in ("gpt-image-2.5", "gpt-image-2-preview", "gpt-image-2-20260421", "gpt-image-2-",
                           "dall-e-3-hd", ""):
        assert im.lookup(not_a_snapshot) is None, not_a_snapshot
    assert im.model_for("gpt-image-2-2026-04-21").per_image == im.IMAGE_MODELS["gpt-image-2"].per_image


def test_qualities_per_model():
    assert im.model_for("gpt-image-2").qualities == ("low", "medium", "high", "auto")
    assert {"xhigh", "max"} <= set(im.model_for("gpt-image-2.5-sunburst").qualities)
    assert "xhigh" not in im.model_for("gpt-image-2.6-flare").qualities


# ---- prices ----
def test_published_per_image_prices():
    assert im.per_image_price("gpt-image-2", "low", 1024, 1024) == 0.006
    assert im.per_image_price("gpt-image-2", "medium", 1024, 1024) == 0.053
    assert im.per_image_price("gpt-image-2", "high", 1024, 1536) == 0.165
    assert im.per_image_price("gpt-image-2", "high", 1536, 1024) == 0.165
    assert im.per_image_price("gpt-image-1.5", "high", 1024, 1536) == 0.2
    assert im.per_image_price("gpt-image-1-mini", "low", 1024, 1024) == 0.005
    assert im.per_image_price("gpt-image-1", "auto", 1536, 1024) == 0.25  # auto is priced as high
    assert im.per_image_price("gpt-image-2-2026-04-21", "medium", 1024, 1024) == 0.053


def test_other_sizes_are_bounded_by_area_and_expected_by_their_shape():
    # 1792x1024 high on gpt-image-2: at most the square price scaled by area, probably the landscape
    # price scaled by area (OpenAI publishes no formula for other sizes)
    assert im.per_image_price("gpt-image-2", "high", 1792, 1024) == pytest.approx(0.211 * 1.75)
    assert im.expected_image_price("gpt-image-2", "high", 1792, 1024) == pytest.approx(0.165 * 1792 / 1536)
    for name in ("gpt-image-2", "gpt-image-2.5-flare"):
        for q in ("low", "medium", "high", "auto"):
            for w, h in [(816, 816), (1792, 1024), (1024, 768), (3840, 2160), (2048, 2048), (1280, 3840)]:
                assert 0 < im.expected_image_price(name, q, w, h) <= im.per_image_price(name, q, w, h)
                assert im.per_image_price(name, q, w, h) >= im.per_image_price(name, q, 1024, 1024) or w * h < 2**20


def test_unpublished_and_unknown_models_are_priced_on_the_safe_side():
    rows = [m.per_image for m in im.IMAGE_MODELS.values() if m.per_image is not None]
    for name in ("gpt-image-2.5-flare", "gpt-image-2.6-sunburst", "gpt-image-9"):
        for q in ("low", "medium", "high"):
            assert im.per_image_price(name, q, 1024, 1024) == max(r[q][0] for r in rows)
            assert im.per_image_price(name, q, 1536, 1024) == max(r[q][1] for r in rows)
    unknown = im.model_for("gpt-image-9")
    assert not unknown.known and not unknown.sizes.flexible
    assert all(unknown.output_per_m >= m.output_per_m for m in im.IMAGE_MODELS.values())
    assert im.model_for("gpt-image-2.5-flare").output_per_m == 30.0  # billed at gpt-image-2's token prices


def test_cost_from_usage_prices_each_kind_of_token():
    usage = {"input_tokens": 110, "input_tokens_details": {"text_tokens": 10, "image_tokens": 100},
             "output_tokens": 7033}
    assert im.cost_from_usage("gpt-image-2", usage) == pytest.approx(10 * 5e-6 + 100 * 8e-6 + 7033 * 30e-6)
    assert im.cost_from_usage("gpt-image-1-mini", usage) == pytest.approx(10 * 2e-6 + 100 * 2.5e-6 + 7033 * 8e-6)
    # no split reported: every input token at the image rate
    assert im.cost_from_usage("gpt-image-2", {"input_tokens": 110, "output_tokens": 0}) == pytest.approx(110 * 8e-6)


def test_expected_output_tokens_reproduce_the_published_price():
    for name in ("gpt-image-2", "gpt-image-1.5", "gpt-image-1-mini", "gpt-image-1"):
        spec = im.model_for(name)
        for q in ("low", "medium", "high"):
            for w, h in im.STANDARD_SIZES:
                tokens = im.expected_output_tokens(name, q, w, h)
                published = im.per_image_price(name, q, w, h)
                assert published - 1e-4 <= tokens * spec.output_per_m / 1e6 <= published
    assert im.expected_output_tokens("gpt-image-2", "high", 1024, 1024) == 7033


def test_estimate_upper_bound_covers_images_prompt_and_input_image():
    bound = im.estimate_upper_bound("gpt-image-2", quality="medium", width=1024, height=1024, n=3, prompt="ab",
                                    input_images=1)
    assert bound == pytest.approx(3 * 0.053 + 2 * 5e-6 + im.MAX_IMAGE_INPUT_TOKENS * 8e-6)


# ---- shutdowns ----
@pytest.mark.parametrize("model,day", [("dall-e-3", "2026-05-12"), ("dall-e-2", "2026-05-12"),
                                       ("gpt-image-1", "2026-10-23"), ("gpt-image-1.5", "2026-12-01"),
                                       ("gpt-image-1.5-2025-12-16", "2026-12-01"), ("gpt-image-1-mini", "2026-12-01"),
                                       ("chatgpt-image-latest", "2026-12-01")])
def test_retired_names_fail_with_the_replacement(model, day):
    with pytest.raises(EngineUnavailable) as info:
        im.check_usable(model, TODAY)
    assert info.value.user_message == (f"The image model {model} was shut down on {day}; "
                                       "set OPENAI_IMAGE_MODEL=gpt-image-2 (or another current model).")


def test_a_model_works_until_its_shutdown_day():
    assert im.check_usable("gpt-image-1", date(2026, 10, 22)).name == "gpt-image-1"
    with pytest.raises(EngineUnavailable, match="gpt-image-1 was shut down on 2026-10-23"):
        im.check_usable("gpt-image-1", date(2026, 10, 23))
    assert im.check_usable("gpt-image-2", TODAY).name == "gpt-image-2"
    assert not im.check_usable("gpt-image-9", TODAY).known  # unknown names are allowed (future models)
    with pytest.raises(EngineUnavailable, match="OPENAI_IMAGE_MODEL is empty"):
        im.check_usable("  ", TODAY)


def test_current_models_and_successors():
    assert im.current_models(TODAY) == ["gpt-image-2", "gpt-image-2.5-flare", "gpt-image-2.5-sunburst",
                                        "gpt-image-2.6-flare", "gpt-image-2.6-sunburst"]
    before = im.current_models(date(2026, 11, 1))
    assert "gpt-image-1.5" in before and "gpt-image-1-mini" in before and "gpt-image-1" not in before
    assert im.successor("gpt-image-1.5", date(2026, 12, 1)) == "gpt-image-2"
    assert im.successor("gpt-image-2", date(2027, 6, 1)) == "gpt-image-2.5-flare"  # if gpt-image-2 shut down
    assert im.successor("gpt-image-2-2026-04-21", date(2027, 6, 1)) == "gpt-image-2.5-flare"
    assert im.CHECKED == date(2026, 12, 7)


def test_chat_model_shutdowns_map_snapshots_to_their_family():
    assert openai_pricing.chat_shutdown("gpt-5-mini") == date(2026, 12, 11)
    assert openai_pricing.chat_shutdown("gpt-5-mini-2025-08-07") == date(2026, 12, 11)
    assert openai_pricing.chat_shutdown("gpt-5.4-mini") is None
    assert openai_pricing.chat_shutdown("gpt-4.1-nano") == date(2026, 10, 23)
    assert openai_pricing.chat_price_for("gpt-5.4-mini-2026-03-17") == openai_pricing.CHAT_PRICES["gpt-5.4-mini"]
