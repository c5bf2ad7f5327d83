"""The argument checks every state handler uses (imagechat/state/views.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from imagechat.state.views import as_uuid

NOW = datetime(2026, 11, 29, tzinfo=UTC)


@pytest.mark.parametrize("value", ["", "x", "<reflex.Var>x</reflex.Var>", "12345678-1234-1234-1234-12345678901",
                                   "a" * 5000, None, 7, ["list"], "img-1; alert(1)"])
def test_as_uuid_refuses_anything_but_a_uuid(value):
    assert as_uuid(value) == ""


def test_as_uuid_gives_the_canonical_form():
    value = uuid.uuid4()
    assert as_uuid(str(value).upper()) == str(value)
    assert as_uuid("{" + str(value) + "}") == str(value)
