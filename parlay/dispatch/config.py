"""How the dispatcher runs: lanes, batch sizes, leases, timeouts, retries (from the settings)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# The channels a worker has a lane for.
CHANNELS = ("inapp", "sms", "wa")


@dataclass(frozen=True)
class DispatchConfig:
    concurrency: dict[str, int] = field(default_factory=lambda: {"inapp": 256, "sms": 64, "wa": 64})
    priority_concurrency: int = 32
    batch_size: int = 500
    lease_seconds: float = 60.0
    send_timeout_seconds: float = 15.0
    poll_interval_seconds: float = 0.25
    priority_poll_interval_seconds: float = 0.05
    max_attempts: int = 8
    backoff_base_seconds: float = 1.0
    backoff_cap_seconds: float = 300.0
    flush_interval_seconds: float = 0.02
    flush_batch: int = 1000
    housekeeping_interval_seconds: float = 1.0
    stop_grace_seconds: float = 10.0
    # One log line per recorded outcome (``dispatch/report.py``): ~20 µs of the worker's time each.
    log_outcomes: bool = True

    @property
    def send_window_seconds(self) -> float:
        """How long after its claim a delivery may still be handed to a channel.

        A send must end, and its outcome be written, while the lease still holds; otherwise
        another worker may claim the delivery and send it again. So a send starts only while at
        least the send timeout (plus a second for the write) is left, or half the lease when
        the lease is shorter than that.
        """
        margin = min(self.send_timeout_seconds + 1.0, self.lease_seconds / 2)
        return self.lease_seconds - margin


def backoff_delay(attempt: int, config: DispatchConfig, retry_after: float | None) -> float:
    """Exponential backoff with full jitter, never sooner than the provider's Retry-After."""
    ceiling = min(config.backoff_cap_seconds, config.backoff_base_seconds * 2 ** (attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security
    return max(delay, retry_after or 0.0)
