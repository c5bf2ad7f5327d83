"""What an image costs: the estimate shown before a request is sent, and the actual charge of each stored
image afterwards (read from the cost ledger).

`estimate` is offline (no network, no database): the OpenAI engine is priced from the model table
(providers.image_models) at the size that model will really make; the offline and Stable Diffusion
engines cost $0. Its upper bound is what jobs.submit reserves from the budget for the same request.

`actual_cost` reads the ledger entry of the image's job (usage_ledger.job_id): a job making n images is
charged once, so each image's share is the charge divided by the images the job stored."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import select

from imagechat.core.errors import InvalidRequest
from imagechat.core.providers import ENGINES, image_models
from imagechat.core.styles import check_style, styled_prompt
from imagechat.db import session_scope
from imagechat.models import Image, UsageEntry
from imagechat.settings import get_settings

FREE_ENGINES = ("offline", "diffusers")
_MAX_SIDE = 100_000


@dataclass(frozen=True)
class Estimate:
    usd_upper_bound: float  # what the request can cost at most (reserved from the budget)
    usd_expected: float  # what it probably costs
    label: str  # "≈ $0.05 · gpt-image-2 · 1024×1024 · medium"
    width: int  # the size that will be made (snapped to what the model takes)
    height: int
    published: bool  # False when the model's per-image prices are not published (expected = upper bound)


def usd(amount: float) -> str:
    """$0, $0.006, $0.05, $1.25: cents, or tenths of a cent below one cent."""
    if amount <= 0:
        return "$0"
    return f"${amount:.3f}" if amount < 0.01 else f"${amount:.2f}"


def _whole(value: object, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"'{what}' must be a whole number from {low} to {high}.")
    return value


def estimate(engine: str, model: str, width: int, height: int, quality: str, n: int, prompt: str, *,
             style: str | None = None, edit: bool = False) -> Estimate:
    """The cost of a request before it is sent. `model` "" means the engine's only model (or, for openai,
    the configured one); `edit` counts one input image."""
    if engine not in ENGINES:
        raise InvalidRequest(f"Unknown image engine {str(engine)[:40]!r}; choose one of {', '.join(ENGINES)}.")
    width, height = _whole(width, "width", 1, _MAX_SIDE), _whole(height, "height", 1, _MAX_SIDE)
    n = _whole(n, "n", 1, 100)
    prompt = prompt if isinstance(prompt, str) else ""
    quality = quality if isinstance(quality, str) else "auto"
    many = f"{n} × " if n > 1 else ""
    if engine in FREE_ENGINES:
        return Estimate(0.0, 0.0, f"{usd(0)} · {model or engine} · {many}{width}×{height}", width, height, True)
    if not model:
        model = get_settings().openai_image_model
    spec = image_models.model_for(model)
    w, h = spec.snap_size(width, height)
    text = styled_prompt(prompt, check_style(style))
    upper = image_models.estimate_upper_bound(model, quality=quality, width=w, height=h, n=n, prompt=text,
                                              input_images=1 if edit else 0)
    published = spec.per_image is not None
    if published:
        text_tokens = math.ceil(len(text) / 4)  # about four characters a token
        inputs = (text_tokens * spec.text_input_per_m
                  + (image_models.MAX_IMAGE_INPUT_TOKENS * spec.image_input_per_m if edit else 0)) / 1e6
        expected = min(upper, n * image_models.expected_image_price(model, quality, w, h) + inputs)
    else:
        expected = upper
    sign = "≈" if published else "≤"
    label = f"{sign} {usd(expected)} · {model} · {many}{w}×{h} · {quality}"
    return Estimate(upper, expected, label, w, h, published)


@dataclass(frozen=True)
class ActualCost:
    image_id: uuid.UUID
    usd: float  # this image's share of its job's charge
    job_usd: float  # the whole job's charge (0 when there is no job or ledger entry)
    images_in_job: int
    status: str  # the ledger entry's status (charged, reserved, released), or "none"
    engine: str
    model: str

    @property
    def label(self) -> str:
        return f"{usd(self.usd)} · {self.model or self.engine}"


def actual_costs(image_ids: Iterable[uuid.UUID], owner_id: int) -> dict[uuid.UUID, ActualCost]:
    """The actual cost of each of the owner's images among `image_ids` (others, and deleted ones, are left
    out). One query."""
    ids = [i for i in image_ids if isinstance(i, uuid.UUID)]
    if not ids:
        return {}
    siblings = sa.alias(Image.__table__, "siblings")
    in_job = (sa.select(sa.func.count()).select_from(siblings)
              .where(siblings.c.job_id == Image.job_id).scalar_subquery())
    query = (select(Image.id, Image.job_id, Image.engine, Image.model, UsageEntry.amount_usd, UsageEntry.status,
                    in_job)
             .join(UsageEntry, sa.and_(UsageEntry.job_id == Image.job_id, UsageEntry.owner_id == owner_id),
                   isouter=True)
             .where(Image.owner_id == owner_id, Image.id.in_(ids), Image.deleted_at.is_(None)))
    with session_scope() as s:
        rows = s.exec(query).all()
    out = {}
    for image_id, job_id, engine, model, amount, status, count in rows:
        count = max(1, int(count or 0)) if job_id is not None else 1
        job_usd = float(amount) if amount is not None else 0.0
        out[image_id] = ActualCost(image_id=image_id, usd=job_usd / count, job_usd=job_usd, images_in_job=count,
                                   status=status or "none", engine=engine, model=model)
    return out


def actual_cost(image_id: uuid.UUID, owner_id: int) -> ActualCost | None:
    """What one of the owner's images cost (its share of its job's charge); None when it is not theirs."""
    return actual_costs([image_id], owner_id).get(image_id)
