"""One settings object, read from the environment (``PARLAY_*``)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Operator configuration. Every field can be set as ``PARLAY_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="PARLAY_", extra="ignore")

    database_url: str = "sqlite:///./parlay.db"
    # Unset: in-memory rate limits and live events (one process). Set: shared across processes.
    redis_url: str | None = None
    max_body_bytes: int = 32 * 1024 * 1024
    access_token_ttl_seconds: int = Field(default=8 * 3600, ge=60)
    # How long a token exchanged for an API key (LivePerson's client-credentials flow) lives.
    key_token_ttl_seconds: int = Field(default=3600, ge=60, le=24 * 3600)
    # The web tool (/app/): a session ends after this long without a request (sliding), and at
    # the cap after sign-in whatever happens.
    web_session_idle_seconds: int = Field(default=2 * 3600, ge=60)
    web_session_max_seconds: int = Field(default=12 * 3600, ge=60)
    # Set by ``parlay serve --demo`` only: the sign-in page shows the demo login kept there.
    web_demo_credentials_file: Path | None = None
    # Set by ``parlay serve --demo`` only: the demo phone (/demo/phone) signs consumer tokens
    # with the key kept in this file, and its app's push proxy is ``demo_phone_url``/demo/...
    demo_phone_key_file: Path | None = None
    demo_phone_url: str | None = None
    log_level: str = "INFO"
    log_json: bool = True
    # How long an Idempotency-Key is remembered.
    idempotency_ttl_seconds: int = Field(default=24 * 3600, ge=60)
    # The staff API (and the web tool) is limited per user or API key, not per account: an
    # account-wide budget would be shared by every admin clicking at once.
    staff_rate_limit_per_second: int = Field(default=50, ge=1)
    # The agent API is limited per agent or bot, not per account: a brand's 3 requests/second
    # would be shared by every agent replying at once.
    agent_rate_limit_per_second: int = Field(default=20, ge=1)
    # How often a live stream with nothing to say sends a keep-alive comment (proxies close
    # idle connections).
    events_keepalive_seconds: float = Field(default=15.0, gt=0)
    # A live stream ends after this long; the client reconnects (and is authenticated again).
    events_max_seconds: float = Field(default=900.0, gt=0)
    # Live streams one consumer or one agent may hold open at once (per process); a newer one
    # replaces the oldest.
    events_max_streams: int = Field(default=5, ge=1, le=100)
    # A conversation assigned to an agent who does not accept it (or write) within this many
    # seconds goes back to its queue and the agent is set AWAY; 0 never takes it back.
    conversation_accept_timeout_seconds: float = Field(default=120.0, ge=0)

    # ``GET /metrics`` on the API answers only with ``Authorization: Bearer <token>``; unset, it is
    # not served there (404). Either way ``metrics_bind`` ("host:port") can serve the metrics
    # alone on a separate listener, typically a private address the scraper reaches.
    metrics_token: SecretStr | None = None
    metrics_bind: str | None = None

    # The dispatcher (``parlay worker``, or inside ``parlay serve``).
    worker_batch_size: int = Field(default=500, ge=1, le=10_000)
    worker_lease_seconds: float = Field(default=60.0, gt=0)
    worker_poll_interval_seconds: float = Field(default=0.25, gt=0)
    worker_send_timeout_seconds: float = Field(default=15.0, gt=0)
    worker_max_attempts: int = Field(default=8, ge=1)
    worker_backoff_base_seconds: float = Field(default=1.0, gt=0)
    worker_concurrency_inapp: int = Field(default=256, ge=1)
    worker_concurrency_sms: int = Field(default=64, ge=1)
    worker_concurrency_wa: int = Field(default=64, ge=1)
    worker_priority_concurrency: int = Field(default=32, ge=1)
    # ``parlay api`` sends the IVR invites (and agents' pushes) it queues itself, with a
    # dispatcher of the priority lane alone, rather than leaving them to a worker whose event
    # loop may be busy with a campaign (docs/operations.md). Off: only workers send.
    api_sends_invites: bool = True
    # One ``delivery outcome`` log line per outcome the dispatcher records (docs/operations.md).
    log_delivery_outcomes: bool = True
    # How often each worker counts the deliveries due per lane for ``parlay_queue_depth`` (one
    # grouped COUNT over the queue's partial index).
    queue_depth_interval_seconds: float = Field(default=5.0, ge=1)

    # The status-webhook relay (in the worker): requests in flight over all subscriptions, each
    # request's timeout, and the first retry's delay (doubled per failure, jittered, capped at an
    # hour; a subscription whose events fail for 24 hours is disabled).
    webhook_concurrency: int = Field(default=64, ge=1, le=1024)
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=30)
    webhook_backoff_base_seconds: float = Field(default=10.0, gt=0)
    # How long a relay holds the events it took (a dead worker's are sent again after this),
    # and how often an idle relay looks for new events.
    webhook_lease_seconds: float = Field(default=60.0, gt=0)
    webhook_poll_interval_seconds: float = Field(default=0.5, gt=0)

    # Fernet keys (comma-separated, newest first) that encrypt the push credentials Parlay
    # stores: required by serve, api and worker (the demo keeps one in a file). Generate one with
    # `parlay secret-key generate`; rotation in docs/operations.md.
    secret_key: str | None = Field(default=None, repr=False)

    # Extra CA certificates trusted for provider connections (a test CA for loopback fakes).
    provider_ca_bundle: str | None = None
    # Lifts the URL policy (parlay.lib.http.urls): URLs Parlay fetches (push proxy, APNs and FCM
    # endpoints, token_uri, jwksUrl, webhooks) may then be plain http and reach any address,
    # loopback and private networks included. For the demo and tests (fakes on 127.0.0.1), never
    # production.
    allow_private_urls: bool = False

    # Where brands' systems and providers reach this Parlay (https://parlay.brand.example): the
    # Domain API names it; OAuth 1.0a signatures are checked against it (behind a TLS terminator
    # the request Parlay sees says http and an inner host); Twilio's status callbacks are sent to
    # <public_url>/webhooks/twilio/<account>/status and its signatures checked against URLs under
    # it. Unset: the request's own URL, and no StatusCallback is asked for (SMS then stay SENT).
    public_url: str | None = Field(
        default=None, max_length=512, pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$"
    )

    # The sandbox channel stands in for providers (tests, benchmarks, the demo): a comma-separated
    # list of the channels (inapp, sms, wa) it serves. Empty: in-app pushes go to APNs, FCM and the
    # push proxy, SMS to Twilio and WhatsApp to the Cloud API for accounts that connected them
    # (an account without credentials for a channel is served by the sandbox).
    sandbox_channels: str = ""
    sandbox_delay_ms: float = Field(default=0.0, ge=0)
    sandbox_script: str | None = None
    sandbox_log: str | None = None

    @field_validator("metrics_bind")
    @classmethod
    def _host_and_port(cls, value: str | None) -> str | None:
        if value is not None:
            metrics_address(value)
        return value

    @property
    def idempotency_ttl(self) -> timedelta:
        return timedelta(seconds=self.idempotency_ttl_seconds)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def metrics_address(bind: str) -> tuple[str, int]:
    """``"host:port"`` (``"[::1]:9464"`` for IPv6) as (host, port); ValueError when malformed."""
    host, sep, port = bind.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if (
        not sep
        or not host
        or not port.isascii()
        or not port.isdigit()
        or not 0 <= int(port) < 65536
    ):
        raise ValueError(f"expected host:port, got {bind!r}")
    return host, int(port)
