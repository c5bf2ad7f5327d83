"""The offline engine: a procedural scene painter (NumPy + Pillow). No AI model, no network.

Rendering is CPU work, so it runs in a worker thread; progress crosses back to the event loop
with call_soon_threadsafe and is awaited there, so the caller's async callback never runs in
the painter's thread and the loop is never blocked."""

from __future__ import annotations

import asyncio
import secrets
import threading

from imagechat.core.errors import InvalidRequest
from imagechat.core.painter import parse_scene, render
from imagechat.core.providers import base
from imagechat.core.request import ImageRequest
from imagechat.core.styles import STYLES, check_style

OUTPUT_FORMATS = ("png", "jpeg", "webp")


class _Cancelled(Exception):
    pass


class OfflineProvider(base.GridSizes):
    MIN_SIDE, MAX_SIDE, SIZE_STEP = 64, 2048, 16
    name = "offline"
    model = "imagechat procedural painter v1 (offline, no AI model)"
    # The listed sizes are the presets; any WxH in multiples of 16 within 64..2048 is accepted too
    # (see accepts_size), which a fixed tuple cannot express.
    capabilities = base.Capabilities(
        sizes=((1024, 1024), (1792, 1024), (1024, 1792), (512, 512), (256, 256)),
        styles=STYLES,
        max_n=4,
        edits=False,
        previews=True,
        output_formats=OUTPUT_FORMATS,
    )

    async def aclose(self) -> None:
        return None

    def estimate_cost(self, request: ImageRequest) -> float:
        return 0.0

    def _validate(self, request: ImageRequest) -> str:
        if not request.prompt or not request.prompt.strip():
            raise InvalidRequest("Please describe the picture you want.")
        if request.source_image is not None:
            raise InvalidRequest("The offline painter cannot edit an existing image; "
                                 "ask for a new picture or pick another engine.")
        if not self.accepts_size(request.width, request.height):
            raise InvalidRequest(f"The offline painter draws sizes from {self.MIN_SIDE} to {self.MAX_SIDE} pixels "
                                 f"per side in steps of {self.SIZE_STEP}; {request.width}x{request.height} is not one.")
        if not 1 <= request.n <= self.capabilities.max_n:
            raise InvalidRequest(f"The offline painter makes 1 to {self.capabilities.max_n} images at a time.")
        if request.output_format not in OUTPUT_FORMATS:
            raise InvalidRequest(f"Unsupported output format {request.output_format!r}.")
        return check_style(request.style) or parse_scene(request.prompt).style_hint or "photorealistic"

    async def generate(self, request: ImageRequest, on_progress: base.ProgressCallback) -> base.GenerationResult:
        style = self._validate(request)
        seed = request.seed if request.seed is not None else secrets.randbelow(2**31)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[base.Progress | None] = asyncio.Queue()
        cancel = threading.Event()
        n = request.n

        def work() -> list[base.GeneratedImage]:
            scene = parse_scene(request.prompt)
            images = []
            try:
                for i in range(n):
                    def report(frac: float, text: str, preview: bytes | None, i: int = i) -> None:
                        if cancel.is_set():
                            raise _Cancelled()
                        label = text if n == 1 else f"Image {i + 1} of {n}: {text}"
                        pct = round(100.0 * (i + frac) / n, 1)
                        loop.call_soon_threadsafe(queue.put_nowait, base.Progress(pct, label, preview))

                    out = render(scene, style, request.width, request.height, seed + i, report)
                    images.append(base.GeneratedImage(data=out.encode(request.output_format), seed=seed + i))
                return images
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)  # always wake the consumer

        task = asyncio.ensure_future(asyncio.to_thread(work))
        # If we stop waiting (cancel, callback error) the thread still ends; don't warn about its result.
        task.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            while (item := await queue.get()) is not None:
                await on_progress(item)
            images = await task
        except BaseException:
            cancel.set()  # stop the painter at its next layer if we were cancelled or a callback failed
            raise
        await on_progress(base.Progress(100.0, "Done"))
        return base.GenerationResult(
            images=images, engine=self.name, model=self.model, cost_usd=0.0,
            usage={"style": style, "seed": seed, "width": request.width, "height": request.height},
        )
