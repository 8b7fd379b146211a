"""One settings object, read from the environment (``PARLAY_*``)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Operator configuration. Every field can be set as ``PARLAY_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PARLAY_", extra="ignore")

    database_url: str = "sqlite:///./parlay.db"
    # Unset: in-memory rate limits and live events (one process). Set: shared across processes.
    redis_url: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    access_token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    log_level: str = "INFO"
    log_json: bool = True
    # How long an Idempotency-Key is remembered.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # Default per-account, per-API-family rate limit for new accounts (SPEC §4).
    default_rate_limit_per_second: int = Field(default=3, ge=1)

    @property
    def idempotency_ttl(self) -> timedelta:
        return timedelta(seconds=self.idempotency_ttl_seconds)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
