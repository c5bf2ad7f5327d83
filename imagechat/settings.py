"""One settings object. Every knob is an environment variable with a safe default."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # Services
    database_url: str = "postgresql+psycopg://127.0.0.1:5432/imagechat"
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_namespace: str = Field("imagechat", description="prefix of every Redis key (queue, progress, limits)")
    redis_max_connections: int = Field(50, ge=2, description="Redis connections per process and pool (callers wait)")

    # Engines
    image_engine: Literal["auto", "offline", "openai", "diffusers"] = Field(
        "auto", description="auto = openai when OPENAI_API_KEY is set, else offline"
    )
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    openai_image_model: str = "gpt-image-2"
    openai_chat_model: str = "gpt-5.4-mini"
    openai_timeout_s: float = 120.0
    openai_max_retries: int = 3
    openai_partial_images: int = Field(2, ge=0, le=3)
    diffusers_model_path: str | None = None
    diffusers_steps: int = 25

    # Requests
    max_prompt_chars: int = 4000
    max_images_per_request: int = 4

    # Limits and budgets (USD)
    rate_limit: str = "10/minute"
    user_daily_budget_usd: float = 2.0
    user_monthly_budget_usd: float = 20.0
    global_monthly_budget_usd: float = 200.0

    # Jobs
    job_time_limit_s: int = 300
    job_max_attempts: int = 3
    job_stale_after_s: int = 90
    worker_processes: int = 1
    worker_threads: int = 2
    worker_nice: int = Field(10, ge=0, le=19, description="CPU priority of worker processes (higher = lower)")
    worker_poll_ms: int = Field(50, ge=5, le=1000, description="max idle sleep of a worker between queue polls")

    # Storage
    stored_format: Literal["webp", "png", "jpeg"] = "webp"
    stored_quality: int = Field(90, ge=1, le=100)
    thumbnail_px: int = 320
    max_image_pixels: int = 40_000_000

    # Web
    app_port: int = 3000
    backend_port: int = 8000

    def resolved_engine(self) -> str:
        if self.image_engine != "auto":
            return self.image_engine
        return "openai" if self.openai_api_key else "offline"


@lru_cache
def get_settings() -> Settings:
    return Settings()
