"""Stable Diffusion on this machine through diffusers (the optional extra in requirements-sd.txt).

torch and diffusers are imported only when an image is actually generated: the web process builds
this provider just to read its capabilities and must not pay seconds and hundreds of MB for torch.
"""

from __future__ import annotations

import asyncio
import importlib.util
import io
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps

from imagechat.core import codec
from imagechat.core.errors import ContentRefused, EngineUnavailable, InvalidRequest
from imagechat.core.providers.base import (
    Capabilities,
    GeneratedImage,
    GenerationResult,
    GridSizes,
    Progress,
    ProgressCallback,
)
from imagechat.core.request import ImageRequest
from imagechat.core.styles import STYLES, styled_prompt
from imagechat.settings import Settings

INSTALL_HINT = "Stable Diffusion needs the optional extra: pip install -r requirements-sd.txt"
MODEL_HINT = "DIFFUSERS_MODEL_PATH is not set or is not a diffusers model folder"

# SD 1.x is trained at 512, SD 2.x at 768; 1024 works with fine-tunes. 64x64 keeps tests and smoke checks fast.
SIZES = ((512, 512), (512, 768), (768, 512), (768, 768), (1024, 1024), (64, 64))
MAX_N = 4
EDIT_STRENGTH = 0.6  # how far an edit may move from the source image (0 = unchanged, 1 = ignore it)
# A painted mask: img2img repaints the whole picture and its output is blended through the mask, so only the
# painted area changes (softly at its edge) and every other pixel stays the source's. A real inpainting
# pipeline (StableDiffusionInpaintPipeline) needs inpainting weights (a UNet with 9 input channels), which an
# ordinary model folder does not have; this works with any SD model, at the price of the model not seeing
# the mask while it denoises.
PREVIEWS_PER_IMAGE = 4
PREVIEW_MAX_PX = 512
# Linear map from SD 1.x latent channels to RGB: a preview without running the VAE decoder.
_LATENT_RGB = ((0.3512, 0.2297, 0.3227), (0.3250, 0.4974, 0.2350),
               (-0.2829, 0.1762, 0.2721), (-0.2120, -0.2616, -0.7177))


class _Stopped(Exception):
    """Raised inside the denoising loop when the caller went away (cancelled, or its callback failed)."""


@dataclass(eq=False)
class _Loaded:
    """One pipeline plus its lock: diffusers pipelines keep per-call state (the scheduler), so calls
    on the same weights run one at a time; concurrent jobs on 2 CPU cores would not be faster anyway."""

    pipe: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    _img2img: Any = None

    def img2img(self) -> Any:
        if self._img2img is None:
            from diffusers import StableDiffusionImg2ImgPipeline

            needs_checker = bool(getattr(self.pipe.config, "requires_safety_checker", False))
            # Same modules, no second copy of the weights.
            self._img2img = StableDiffusionImg2ImgPipeline(**self.pipe.components,
                                                           requires_safety_checker=needs_checker)
            self._img2img.set_progress_bar_config(disable=True)
        return self._img2img


_cache: dict[str, _Loaded] = {}
_cache_lock = threading.Lock()


def extra_installed() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "diffusers", "transformers"))


def is_model_folder(path: str | None) -> bool:
    return bool(path) and (Path(path) / "model_index.json").is_file()


def load_pipeline(path: str) -> _Loaded:
    """Load a model folder once per process (a worker keeps it for every later job)."""
    key = str(Path(path).resolve())
    with _cache_lock:  # held while loading so two threads never load the same weights twice
        if key not in _cache:
            try:
                from diffusers import StableDiffusionPipeline
            except ImportError as exc:
                raise EngineUnavailable(INSTALL_HINT) from exc
            if not is_model_folder(key):
                raise EngineUnavailable(f"{MODEL_HINT}: {path}")
            try:
                pipe = StableDiffusionPipeline.from_pretrained(key, local_files_only=True)
            except Exception as exc:  # wrong model family, missing weights, corrupt files
                raise EngineUnavailable(f"{MODEL_HINT}: {path} could not be loaded ({exc})") from exc
            pipe.set_progress_bar_config(disable=True)
            _cache[key] = _Loaded(pipe)
        return _cache[key]


def steps_for(quality: str, configured: int) -> int:
    """'low' halves the configured steps, 'high' adds half; auto/medium use them as configured."""
    factor = {"low": 0.5, "high": 1.5}.get(quality, 1.0)
    return max(1, round(configured * factor))


def latent_preview(latents: Any, size: tuple[int, int]) -> bytes:
    """PNG of the first latent in the batch through a fixed linear map: microseconds, no VAE pass."""
    import torch

    lat = latents[0].detach().float().cpu()
    if lat.shape[0] == 4:
        rgb = torch.einsum("chw,cr->rhw", lat, torch.tensor(_LATENT_RGB))
    else:  # other latent spaces: the first three channels still show the composition
        rgb = lat[:3]
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()
    image = Image.fromarray(pixels, "RGB")
    scale = min(1.0, PREVIEW_MAX_PX / max(size))
    image = image.resize((max(1, round(size[0] * scale)), max(1, round(size[1] * scale))), Image.BILINEAR)
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _source_image(data: bytes, width: int, height: int, max_pixels: int) -> Image.Image:
    codec.inspect(data, max_pixels=max_pixels)  # InvalidImage with a user message when it is not usable
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode in ("RGBA", "LA", "P"):  # flatten transparency onto white, as a viewer shows it
        image = image.convert("RGBA")
        base = Image.new("RGB", image.size, (255, 255, 255))
        base.paste(image, mask=image.getchannel("A"))
        image = base
    return image.convert("RGB").resize((width, height), Image.LANCZOS)


def _change_layer(mask: bytes, size: tuple[int, int]) -> Image.Image:
    """How much of each pixel to take from the model's output (L, 255 = all): the mask's transparency, so
    alpha 0 (painted) changes and alpha 255 keeps the source."""
    try:
        image = Image.open(io.BytesIO(mask), formats=("PNG",))
        image.load()
    except Exception:
        raise InvalidRequest("The painted area could not be read. Paint it again and press Apply.") from None
    if "A" not in image.getbands():
        raise InvalidRequest("The painted area has no transparency. Paint it again and press Apply.")
    alpha = image.getchannel("A")
    if alpha.size != size:
        alpha = alpha.resize(size, Image.BILINEAR)
    return alpha.point(lambda v: 255 - v)


class DiffusersProvider(GridSizes):
    MIN_SIDE, MAX_SIDE, SIZE_STEP = 64, 2048, 8
    name = "diffusers"
    capabilities = Capabilities(sizes=SIZES, styles=STYLES, max_n=MAX_N, edits=True, previews=True,
                                output_formats=("png",))

    def __init__(self, settings: Settings, pipeline: Any = None):
        """pipeline: an already built StableDiffusionPipeline (tests); otherwise the model folder is
        loaded on first use. Raises EngineUnavailable now if it could never work."""
        self.settings = settings
        self.steps = max(1, settings.diffusers_steps)
        path = settings.diffusers_model_path
        if pipeline is not None:
            self._loaded: _Loaded | None = _Loaded(pipeline)
            pipeline.set_progress_bar_config(disable=True)
            self.model = Path(path).name if path else (getattr(pipeline, "name_or_path", "") or "custom")
            return
        if not extra_installed():  # find_spec only: no torch import here
            raise EngineUnavailable(INSTALL_HINT)
        if not is_model_folder(path):
            raise EngineUnavailable(MODEL_HINT + (f": {path}" if path else ""))
        self._loaded = None
        self._path = path
        self.model = Path(path).resolve().name

    async def aclose(self) -> None:
        return None  # loaded pipelines are shared by every provider object of this process

    def estimate_cost(self, request: ImageRequest) -> float:
        return 0.0  # local compute

    async def generate(self, request: ImageRequest, on_progress: ProgressCallback) -> GenerationResult:
        self._check(request)
        seed = request.seed if request.seed is not None else secrets.randbelow(2**63)
        steps = steps_for(request.quality, self.steps)
        loop = asyncio.get_running_loop()
        updates: asyncio.Queue[Progress | None] = asyncio.Queue()
        stop = threading.Event()

        def report(update: Progress) -> None:  # called from the inference thread
            loop.call_soon_threadsafe(updates.put_nowait, update)

        async def deliver() -> None:  # one at a time, in order, on the event loop
            while (update := await updates.get()) is not None:
                await on_progress(update)

        work = asyncio.ensure_future(asyncio.to_thread(self._run, request, seed, steps, report, stop))
        # If we stop waiting (cancel, callback error) the thread still ends; don't warn about its result.
        work.add_done_callback(lambda f: f.cancelled() or f.exception())
        consumer = asyncio.ensure_future(deliver())
        try:
            await asyncio.wait({work, consumer}, return_when=asyncio.FIRST_COMPLETED)
            if consumer.done():
                consumer.result()  # on_progress raised: re-raise it (the thread is told to stop below)
            produced = work.result()
            # Every report() was scheduled before the thread's result, so this sentinel comes last.
            updates.put_nowait(None)
            await consumer
        finally:
            stop.set()
            consumer.cancel()
        return GenerationResult(images=produced, engine=self.name, model=self.model, cost_usd=0.0,
                                usage={"steps": steps, "images": request.n})

    def _check(self, request: ImageRequest) -> None:
        w, h = request.width, request.height
        if not self.accepts_size(w, h):
            raise InvalidRequest(f"Stable Diffusion needs sides that are multiples of {self.SIZE_STEP} between "
                                 f"{self.MIN_SIDE} and {self.MAX_SIDE} pixels, not {w}x{h}.")
        if not 1 <= request.n <= MAX_N:
            raise InvalidRequest(f"Stable Diffusion makes 1 to {MAX_N} images at a time.")
        if request.mask is not None and request.source_image is None:
            raise InvalidRequest("A painted area needs the image it was painted on.")

    def _run(self, request: ImageRequest, seed: int, steps: int,
             report: Callable[[Progress], None], stop: threading.Event) -> list[GeneratedImage]:
        """Runs in a worker thread: blocking torch code lives only here."""
        try:
            import torch
        except ImportError as exc:
            raise EngineUnavailable(INSTALL_HINT) from exc
        loaded = self._loaded or load_pipeline(self._path)
        prompt = styled_prompt(request.prompt, request.style)
        size = (request.width, request.height)
        source = (_source_image(request.source_image, *size, self.settings.max_image_pixels)
                  if request.source_image else None)
        change = _change_layer(request.mask, size) if source is not None and request.mask else None
        out: list[GeneratedImage] = []
        with loaded.lock:
            pipe = loaded.img2img() if source is not None else loaded.pipe
            for index in range(request.n):
                if stop.is_set():
                    raise _Stopped()
                image_seed = (seed + index) % 2**63  # image i of a batch == a single run with this seed
                callback = _StepCallback(index, request.n, size, report, stop)
                kwargs: dict[str, Any] = dict(
                    prompt=prompt, num_inference_steps=steps, output_type="pil",
                    generator=torch.Generator(device="cpu").manual_seed(image_seed),
                    callback_on_step_end=callback, callback_on_step_end_tensor_inputs=["latents"],
                )
                if source is not None:
                    kwargs.update(image=source, strength=EDIT_STRENGTH)
                else:
                    kwargs.update(width=size[0], height=size[1])
                with torch.inference_mode():
                    result = pipe(**kwargs)
                if any(result.nsfw_content_detected or ()):  # only models that ship a safety checker
                    raise ContentRefused("The model's safety checker blocked this image. Try a different prompt.")
                made = result.images[0].convert("RGB")
                if change is not None:
                    made = Image.composite(made.resize(size, Image.LANCZOS), source, change)
                out.append(GeneratedImage(data=_png(made), seed=image_seed,
                                          revised_prompt=prompt if prompt != request.prompt else None))
        return out


class _StepCallback:
    """diffusers' callback_on_step_end: real per-step progress and a cheap preview every few steps."""

    def __init__(self, index: int, count: int, size: tuple[int, int],
                 report: Callable[[Progress], None], stop: threading.Event):
        self.index, self.count, self.size, self.report, self.stop = index, count, size, report, stop

    def __call__(self, pipe: Any, step: int, timestep: Any, tensors: dict) -> dict:
        if self.stop.is_set():
            raise _Stopped()
        total = pipe.num_timesteps  # edits run fewer steps than asked (strength < 1)
        done = step + 1
        percent = 100.0 * (self.index + done / total) / self.count
        every = max(1, total // PREVIEWS_PER_IMAGE)
        preview = None
        if done % every == 0 and done < total:  # the final image follows right after the last step
            preview = latent_preview(tensors["latents"], self.size)
        step = f"step {done}/{total}"
        stage = step.capitalize() if self.count == 1 else f"Image {self.index + 1}/{self.count}: {step}"
        self.report(Progress(percent=min(100.0, percent), stage=stage, preview=preview))
        return tensors
