"""Procedural scene painter: the offline image engine (NumPy + Pillow, no AI model).

    scene = parse_scene("a sunset over mountains with a lake reflection")
    png = render(scene, "watercolor", 1024, 1024, seed=7).encode("png")
"""

from .render import Rendered, render, stage_texts
from .scene import Scene, parse_scene, prompt_hash

__all__ = ["Rendered", "Scene", "parse_scene", "prompt_hash", "render", "stage_texts"]
