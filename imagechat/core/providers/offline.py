"""The offline engine: a procedural scene painter (NumPy + Pillow). No AI model, no network.

Edits ("add a boat", "make the sky pink", a restyle) repaint the parsed scene of the new prompt with the
composition of the image being changed (its prompt and seed, painter.render's `base`), so the same lake gets a
boat. With a mask the repainted scene replaces only the painted area (alpha 0 in the mask, softly at its
anti-aliased edge); every other pixel is the source's, unchanged. An image this engine did not paint is
repainted from its prompt all the same: the painter cannot see pixels, only words.

Rendering is CPU work, so it runs in a worker thread; progress crosses back to the event loop
with call_soon_threadsafe and is awaited there, so the caller's async callback never runs in
the painter's thread and the loop is never blocked."""

from __future__ import annotations

import asyncio
import io
import secrets
import threading
from dataclasses import replace

import numpy as np
from PIL import Image

from imagechat.core import codec
from imagechat.core.errors import InvalidImage, InvalidRequest
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
        edits=True,
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
        if request.mask is not None and request.source_image is None:
            raise InvalidRequest("A painted area needs the image it was painted on.")
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
        edit = request.source_image is not None
        # An edit keeps the seed of the image it changes (its composition); seed + i must stay a BIGINT.
        seed = request.seed if request.seed is not None else \
            request.source_seed % 2**62 if edit and request.source_seed is not None else secrets.randbelow(2**31)
        # Decoded before the work starts: a bad source or mask is refused at once, with what to do.
        keep = await asyncio.to_thread(_keep_layer, request) if edit else None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[base.Progress | None] = asyncio.Queue()
        cancel = threading.Event()
        n = request.n

        def work() -> list[base.GeneratedImage]:
            scene = parse_scene(request.prompt)
            before = parse_scene(request.source_prompt) if edit and request.source_prompt else None
            images = []
            try:
                for i in range(n):
                    def report(frac: float, text: str, preview: bytes | None, i: int = i) -> None:
                        if cancel.is_set():
                            raise _Cancelled()
                        label = text if n == 1 else f"Image {i + 1} of {n}: {text}"
                        pct = round(100.0 * (i + frac) / n, 1)
                        loop.call_soon_threadsafe(queue.put_nowait, base.Progress(pct, label, preview))

                    out = render(scene, style, request.width, request.height, seed + i, report, base=before,
                                 area=_area(keep[1]) if keep is not None else None)
                    if keep is not None:
                        report(0.97, "Blending the change into the painted area", None)
                        out = replace(out, pixels=_blend(out.pixels, *keep))
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
            usage={"style": style, "seed": seed, "width": request.width, "height": request.height, "edit": edit,
                   "masked": keep is not None},
        )


def _keep_layer(request: ImageRequest) -> tuple[np.ndarray, np.ndarray] | None:
    """(the source's pixels, how much of each to change 0..255) at the requested size, from the source image
    and its mask (fully transparent = change, opaque = keep, in between = a soft edge); None without a mask
    (the whole picture is repainted), once the source is known to be a readable image."""
    size = (request.width, request.height)
    try:
        source = codec.decode(request.source_image, None).image.convert("RGB")
    except InvalidImage:
        raise InvalidRequest("The image to change could not be read. Pick another image.") from None
    if request.mask is None:
        return None
    try:
        mask = Image.open(io.BytesIO(request.mask), formats=("PNG",))
        mask.load()
    except Exception:
        raise InvalidRequest("The painted area could not be read. Paint it again and press Apply.") from None
    if mask.size != source.size or "A" not in mask.getbands():
        raise InvalidRequest("The painted area doesn't fit the image (it must be a PNG of the same size with "
                             "transparency). Paint it again and press Apply.")
    if source.size != size:  # the engine paints at another size: scale both alike (then no pixel stays exact)
        source = source.resize(size, Image.Resampling.LANCZOS)
        mask = mask.resize(size, Image.Resampling.BILINEAR)
    change = 255 - np.asarray(mask.getchannel("A"), np.uint32)
    return np.asarray(source, np.uint32), change[..., None]


def _area(change: np.ndarray) -> tuple[float, float, float, float] | None:
    """The bounding box (x0, y0, x1, y1) of the painted area: where an added subject goes."""
    ys, xs = np.nonzero(change[..., 0] > 127)
    if not len(xs):
        return None
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


def _blend(painted: np.ndarray, source: np.ndarray, change: np.ndarray) -> np.ndarray:
    """The painted scene where the mask says change, the source everywhere else (exactly, where change is 0)."""
    out = (source * (255 - change) + painted.astype(np.uint32) * change + 127) // 255
    return out.astype(np.uint8)
