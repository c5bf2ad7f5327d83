"""Settings read from the environment: a blank OpenAI key is no key (the composer's engine list used to build an
OpenAI client from it and fail)."""

from __future__ import annotations

import pytest

from imagechat.core.options import engine_choices
from imagechat.settings import Settings


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_openai_key_means_no_key(monkeypatch, blank):
    monkeypatch.setenv("OPENAI_API_KEY", blank)
    settings = Settings(_env_file=None)
    assert settings.openai_api_key is None and settings.resolved_engine() == "offline"
    assert [c.name for c in engine_choices(settings)] == ["offline"]


def test_a_key_is_kept_as_a_secret(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-1234567890")
    settings = Settings(_env_file=None)
    assert settings.openai_api_key.get_secret_value() == "sk-test-1234567890" and "1234567890" not in repr(settings)
