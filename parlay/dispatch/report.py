"""What the dispatcher tells an operator about the outcomes it recorded: one log line per outcome,
and the delivery metrics (docs/operations.md#delivery-outcomes).

It runs after a flush committed, from what the dispatcher already holds (the claimed rows and
each send's timing): no query per delivery, and nothing is said of an outcome that was not
written (a stale one, or a flush that failed and is retried).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, MutableMapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from structlog.stdlib import BoundLogger

from parlay.channels.base import OutboundMessage, SendResult
from parlay.delivery.lifecycle import Outcome
from parlay.delivery.queue import ClaimedDelivery
from parlay.delivery.status import DeliveryStatus, ErrorSource, Source
from parlay.lib.observability.logging import get_logger
from parlay.lib.observability.metrics import Metrics

log = get_logger("parlay.deliveries")

# Who answers a channel's sends when the answer did not say (the send timed out).
_CHANNEL_PROVIDER = {"sms": ErrorSource.TWILIO.value, "wa": ErrorSource.WHATSAPP.value}
# Outcome kinds that change the delivery's status: recorded only if the write changed the row.
_STATUS_CHANGES = frozenset({"sent", "final", "hold"})
RETRY = "RETRY"  # the status label of an attempt that goes back to the queue


@dataclass(frozen=True, slots=True)
class SendTiming:
    """How one send went: who answered, how long it took, and when (wall clock)."""

    provider: str
    seconds: float
    at: datetime


def provider_of(message: OutboundMessage, result: SendResult | None) -> str:
    """The provider that answered ``result``; without an answer (a timeout), the one the send
    was waiting for."""
    if result is not None and result.source != ErrorSource.PARLAY:
        return str(result.source)
    if message.channel == "inapp":
        return message.targets[0].push_service if message.targets else ErrorSource.PARLAY.value
    return _CHANNEL_PROVIDER.get(message.channel, ErrorSource.PARLAY.value)


def report_outcomes(
    outcomes: Sequence[Outcome],
    written: Collection[int],
    claimed: MutableMapping[int, ClaimedDelivery],
    timings: MutableMapping[int, SendTiming],
    metrics: Metrics | None,
    *,
    log_lines: bool = True,
) -> None:
    """Log (unless ``log_lines`` is off) and count the outcomes a flush recorded; forget what
    the dispatcher held of them (``written``: the deliveries the flush changed)."""
    # Bound once per call (a slice of a flush): the lazy module logger would bind itself again
    # for every line.
    logger = log.bind()
    counted: Counter[tuple[str, str, str]] = Counter()
    for outcome in outcomes:
        delivery = claimed.pop(outcome.delivery_id, None)
        timing = timings.pop(outcome.delivery_id, None)
        if outcome.kind == "release" or delivery is None:
            continue  # back to the queue untouched: not an outcome
        if outcome.kind in _STATUS_CHANGES and outcome.delivery_id not in written:
            continue  # stale (another worker or a receipt got there first): nothing changed
        status = outcome.status.value if outcome.status is not None else RETRY
        if log_lines:
            _log(logger, delivery, outcome, status, timing)
        if metrics is not None:
            counted[(delivery.channel, status, outcome.error_code or "")] += 1
            if timing is not None:
                _observe(metrics, delivery, status, timing)
    if metrics is not None:
        for labels, n in counted.items():
            metrics.delivery_outcomes.labels(*labels).inc(n)


def _log(
    logger: BoundLogger,
    delivery: ClaimedDelivery,
    outcome: Outcome,
    status: str,
    timing: SendTiming | None,
) -> None:
    logger.info(
        "delivery outcome",
        delivery_id=delivery.id,
        account_id=delivery.account_id,
        source=delivery.source,
        campaign_id=delivery.campaign_id,
        call_id=delivery.call_id,
        conversation_id=delivery.conversation_id,
        channel=delivery.channel,
        attempt=delivery.attempts,
        status=status,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
        provider=timing.provider if timing is not None else None,
        provider_latency_ms=round(timing.seconds * 1000, 1) if timing is not None else None,
    )


def _observe(metrics: Metrics, delivery: ClaimedDelivery, status: str, timing: SendTiming) -> None:
    metrics.provider_send_latency.labels(timing.provider).observe(timing.seconds)
    if delivery.source == Source.IVR_DEFLECTION and status == DeliveryStatus.SENT:
        # An invite expires one lookback after it was queued (``c2m.service``).
        queued_at = delivery.expires_at - timedelta(seconds=delivery.lookback_seconds)
        delay = (timing.at - queued_at).total_seconds()
        metrics.invite_send_delay.labels(delivery.channel).observe(max(delay, 0.0))
