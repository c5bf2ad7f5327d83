"""User text made safe to store and show: no control or invisible characters, single spaces."""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")


def clean_text(raw: str) -> str:
    """Control and invisible characters become spaces; runs of white space collapse."""
    return " ".join(_CONTROL.sub(" ", raw or "").split())
