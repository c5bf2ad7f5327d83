"""Image sizes the parser and the tool path know by name, and the parse-level sanity bound on sides.

The bound only keeps nonsense ("99999x5") out of a request; each engine owns its real size rule and
maps the requested size to one it supports."""

from __future__ import annotations

SQUARE = (1024, 1024)
LANDSCAPE = (1792, 1024)
PORTRAIT = (1024, 1792)

MIN_SIDE, MAX_SIDE = 256, 4096


def size_ok(size: tuple[int, int]) -> bool:
    return all(MIN_SIDE <= side <= MAX_SIDE for side in size)
