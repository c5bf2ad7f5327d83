"""One settings object. Every knob is an environment variable with a safe default."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.\-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


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
    chat_rate_limit: str = Field("20/minute", description="chat-model answers per user (with OPENAI_API_KEY)")
    chat_max_in_flight_per_user: int = Field(2, ge=1, description="chat-model answers being written at once, per user")
    user_daily_budget_usd: float = 2.0
    user_monthly_budget_usd: float = 20.0
    global_monthly_budget_usd: float = 200.0

    # Accounts
    allow_signup: Literal["open", "invite", "closed"] = Field(
        "open", description="who may create an account on the web page: open = anyone who can reach the app (the "
                            "first account becomes the administrator), invite = only with a code from `python -m "
                            "imagechat invites create`, closed = nobody (`python -m imagechat users create`). Set "
                            "invite or closed before exposing the app beyond this machine")
    session_days: int = Field(30, ge=1, le=365, description="a log-in stays valid this many days (then the tabs "
                                                            "it opened return to the log-in page)")
    session_check_s: float = Field(2.0, ge=0.5, le=60, description="how often an open tab checks that its session "
                                                                   "still exists (log-out elsewhere, revocation)")
    login_limit_per_address: str = Field("20/minute", description="log-in attempts per client address (limits "
                                                                  "syntax, e.g. 20/minute)")
    signup_limit_per_address: str = Field("5/hour", description="sign-up attempts per client address")
    auth_limit_per_username: str = Field("10/10 minutes", description="log-in attempts, and separately sign-up "
                                                                      "attempts, per username")
    password_hash_threads: int = Field(2, ge=1, le=32, description="threads that hash and check passwords "
                                                                   "(argon2id, 64 MiB each), apart from all others")
    password_hash_queue: int = Field(16, ge=0, le=1000, description="log-ins that may wait for a hashing thread; "
                                                                    "more are told the server is busy")
    trusted_proxy_hops: int = Field(0, ge=0, le=5, description="reverse proxies in front of the app whose "
                                                               "X-Forwarded-For/-Proto headers are believed (0 = "
                                                               "none: the connection's own address and scheme)")

    @field_validator("login_limit_per_address", "signup_limit_per_address", "auth_limit_per_username")
    @classmethod
    def _check_limit(cls, value: str) -> str:
        import limits

        try:
            limits.parse(value)
        except ValueError:
            raise ValueError(f"not a rate limit (limits syntax, e.g. 20/minute or 10/10 minutes): {value!r}") from None
        return value

    # Jobs
    job_time_limit_s: int = 300
    job_max_attempts: int = 3
    job_stale_after_s: int = 90
    max_jobs_in_flight_per_user: int = Field(
        2, ge=1, description="a user's jobs on the queue or running; more wait their turn (fair scheduling)")
    worker_processes: int = 1
    worker_threads: int = 2
    worker_nice: int = Field(10, ge=0, le=19, description="CPU priority of worker processes (higher = lower)")
    worker_poll_ms: int = Field(50, ge=5, le=1000, description="max idle sleep of a worker between queue polls")

    # Storage
    stored_format: Literal["webp", "png", "jpeg"] = "webp"
    stored_quality: int = Field(90, ge=1, le=100)
    thumbnail_px: int = 320
    max_image_pixels: int = 40_000_000
    delete_undo_seconds: int = Field(30, ge=5, le=3600, description="a deleted image can be restored (Undo) for "
                                                                   "this many seconds; the workers remove it "
                                                                   "for good a minute after that")

    # Web
    app_port: int = 3000
    backend_port: int = 8000
    cors_allowed_origins: Annotated[list[str] | None, NoDecode] = Field(
        None,
        description="comma-separated origins the browser uses for this app (e.g. https://chat.example.com); "
                    "only they may call the API and open the websocket. Empty = http://127.0.0.1:APP_PORT "
                    "and http://localhost:APP_PORT",
    )
    frontend_errors_per_minute: int = Field(
        5, ge=0, description="front-end exception reports logged per browser tab and minute (more are dropped)")
    frontend_errors_per_minute_total: int = Field(
        30, ge=0, description="front-end exception reports logged per web process and minute, all tabs together")
    frontend_error_max_chars: int = Field(
        2000, ge=100, description="longest front-end exception report written to the log (the rest is cut)")

    # Logs
    log_dir: str = Field(".data/logs", description="directory of the rotating log files (relative: to the "
                                                   "directory the app starts in); empty = stderr only")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="INFO and above never include prompt text (private); DEBUG may")
    log_format: Literal["json", "text"] = Field("json", description="json = one JSON object a line; "
                                                                    "text = key=value pairs")
    log_max_bytes: int = Field(10_000_000, ge=10_000, description="a log file is rotated when it would grow "
                                                                  "past this size (bytes)")
    log_backups: int = Field(5, ge=1, description="rotated log files kept per log (name.log.1 ... name.log.N)")

    @field_validator("cors_allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value):
        if isinstance(value, str):  # a JSON list or comma-separated
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else [part for part in re.split(r"[,\s]+", text) if part]
        return value

    @field_validator("cors_allowed_origins")
    @classmethod
    def _check_origins(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        origins = [origin.rstrip("/") for origin in value]
        bad = [origin for origin in origins if not _ORIGIN.match(origin)]
        if bad:  # "*" or a path would widen CORS to anything, or never match the browser's Origin header
            raise ValueError(f"not an origin (scheme://host[:port], no wildcard, no path): {', '.join(bad)}")
        return origins

    def app_origins(self, port: int | None = None) -> list[str]:
        """The origins the browser loads this app from: CORS_ALLOWED_ORIGINS, or the local ones on `port`."""
        if self.cors_allowed_origins:
            return list(self.cors_allowed_origins)
        port = port or self.app_port
        return [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]

    def resolved_engine(self) -> str:
        if self.image_engine != "auto":
            return self.image_engine
        return "openai" if self.openai_api_key else "offline"


@lru_cache
def get_settings() -> Settings:
    return Settings()
