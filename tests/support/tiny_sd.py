"""A tiny random Stable Diffusion pipeline built in code: no download, runs in well under a second on CPU.

The weights are random, so images are noise; what it proves is the real diffusers code path
(loading a model folder offline, the denoising loop, callbacks, seeds, img2img).
Needs the optional extra (requirements-sd.txt); import it only after `pytest.importorskip("diffusers")`.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

# Printable ASCII maps to itself in CLIP's byte-level alphabet, so these are valid base tokens.
_CHARS = [chr(c) for c in range(33, 127)]
_SPECIALS = ["<|startoftext|>", "<|endoftext|>"]
# A few merges so BPE actually merges; every piece on each line must itself be in the vocab.
_MERGES = ["t h", "th e</w>", "a n", "an d</w>", "c a", "ca t</w>", "s u", "su n</w>"]


def _tokenizer_files(folder: Path) -> None:
    tokens = _SPECIALS + _CHARS + [c + "</w>" for c in _CHARS]
    tokens += [a + b for a, b in (m.split(" ") for m in _MERGES)]
    vocab = {tok: i for i, tok in enumerate(dict.fromkeys(tokens))}
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(_MERGES) + "\n", encoding="utf-8")


def build_tiny_pipeline(seed: int = 0):
    """The StableDiffusionPipeline described in /work/shared/ENVIRONMENT.md, weights seeded for repeatability."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37,
        layer_norm_eps=1e-05, num_attention_heads=4, num_hidden_layers=5, vocab_size=1000,
    ))
    with tempfile.TemporaryDirectory() as tmp:
        _tokenizer_files(Path(tmp))
        tokenizer = CLIPTokenizer.from_pretrained(tmp, model_max_length=77)
    scheduler = DDIMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        clip_sample=False, set_alpha_to_one=False, steps_offset=1,
    )
    return StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )


def save_tiny_pipeline(folder: str | Path, seed: int = 0) -> Path:
    """Write the tiny pipeline as a diffusers model folder (model_index.json + components)."""
    folder = Path(folder)
    build_tiny_pipeline(seed).save_pretrained(folder)
    return folder
