"""From a claimed batch to messages a channel can send, and from a channel's answer to the
outcome that is recorded.

``prepare`` runs the send-time checks for the whole batch (facts loaded in a few queries) and
builds each sendable delivery's ``OutboundMessage``; what may not be sent now gets its outcome at
once (failed with the check's reason, held until SMS quiet hours end, expired). A conversation's
push (an agent's or bot's message) has no campaign or call: its row says everything, and its
check asks ``Presence`` which of the consumer's devices hold a live stream. ``outcome_of``
maps a channel's answer: accepted → SENT, rejected → FAILED, a transient failure → retried with
backoff until the attempts or the lookback run out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from parlay.channels.base import Accepted, OutboundMessage, Rejected, SendResult, Template
from parlay.delivery.lifecycle import Outcome
from parlay.delivery.origins import Origin, Origins, conversation_payload, outbound_payload
from parlay.delivery.queue import ClaimedDelivery
from parlay.delivery.status import DeliveryStatus, ErrorCode, Source
from parlay.dispatch.config import DispatchConfig, backoff_delay
from parlay.eligibility.facts import load_facts
from parlay.eligibility.rules import Fail, Hold, Pass, Recipient, check
from parlay.lib.events.presence import Presence


@dataclass
class Prepared:
    """A claimed batch after its checks: what to send now, and the outcomes already known."""

    sends: list[tuple[ClaimedDelivery, OutboundMessage]] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)


def recipient_of(delivery: ClaimedDelivery, origin: Origin | None) -> Recipient:
    """Who the delivery goes to, under its handoff's push rules (a conversation's push: under
    the rule of agent messages)."""
    if delivery.source == Source.CONVERSATION:
        return Recipient(
            account_id=delivery.account_id,
            channel=delivery.channel,
            consumer_id=delivery.consumer_id,
            phone=delivery.phone if delivery.channel != "inapp" else None,
            conversation_push=True,
        )
    return Recipient(
        account_id=delivery.account_id,
        channel=delivery.channel,
        consumer_id=delivery.consumer_id,
        phone=delivery.phone,
        app_ids=origin.handoff.app_ids if origin else (),
        push_when_logged_in=origin.handoff.push_when_logged_in if origin else True,
        push_when_logged_out=origin.handoff.push_when_logged_out if origin else False,
        send_windows=origin.send_windows if origin else (),
    )


def conversation_message_of(delivery: ClaimedDelivery, passed: Pass) -> OutboundMessage:
    """A conversation's push: the message's text and conversation, to the devices chosen. A
    retry, or a send repeated after a crash, replaces the notification instead of adding one."""
    return OutboundMessage(
        delivery_id=delivery.id,
        account_id=delivery.account_id,
        channel=delivery.channel,
        payload=conversation_payload(delivery),
        consumer_id=delivery.consumer_id,
        phone=delivery.phone,
        expires_at=delivery.expires_at,
        attempt=delivery.attempts,
        targets=passed.targets,
        collapse_id=f"ams-{delivery.id}" if delivery.channel == "inapp" else None,
    )


def message_of(delivery: ClaimedDelivery, origin: Origin, passed: Pass) -> OutboundMessage:
    """Everything the channel needs to send this delivery."""
    channel = origin.handoff.channel(delivery.channel)
    template = None
    if channel.uses_template:
        assert channel.template_name is not None
        template = Template(
            channel.template_name,
            channel.template_language,
            dict(delivery.variables or {}),
            delivery.header_variables,
        )
    return OutboundMessage(
        delivery_id=delivery.id,
        account_id=delivery.account_id,
        channel=delivery.channel,
        payload=outbound_payload(delivery, origin, delivery.channel),
        consumer_id=delivery.consumer_id,
        phone=delivery.phone,
        expires_at=delivery.expires_at,
        attempt=delivery.attempts,
        title=channel.notification_title,
        from_number=origin.outbound_number or channel.outbound_number,
        variables=delivery.variables,
        template=template,
        targets=passed.targets,
    )


# Deliveries checked between two pauses: ~2 ms of the event loop.
SLICE = 100


async def prepare(
    session: AsyncSession,
    batch: Sequence[ClaimedDelivery],
    origins: Origins,
    channels: Collection[str],
    now: datetime,
    presence: Presence | None = None,
    pause: Callable[[], Awaitable[None]] | None = None,
) -> Prepared:
    """Run the send-time checks on a claimed batch (``channels``: those this worker can send;
    ``presence``: where live streams are, for conversation pushes). ``pause`` is awaited every
    ``SLICE`` deliveries, so that a batch's checks can step aside for urgent work."""
    found = await origins.for_deliveries(session, batch)
    recipients = {d.id: recipient_of(d, found.get(d.id)) for d in batch}
    facts = await load_facts(session, recipients.values(), presence)
    prepared = Prepared()
    for i, d in enumerate(batch):
        if pause is not None and i and i % SLICE == 0:
            await pause()
        origin = found.get(d.id)
        pushed = d.source == Source.CONVERSATION  # an agent's or bot's message: no origin
        if origin is None and not pushed:
            prepared.outcomes.append(
                Outcome.final(
                    d.id,
                    d.lease_owner,
                    DeliveryStatus.FAILED,
                    ErrorCode.PROVIDER_REJECTED,
                    "campaign or call not found",
                )
            )
            continue
        if now >= d.expires_at:
            prepared.outcomes.append(
                Outcome.final(
                    d.id,
                    d.lease_owner,
                    DeliveryStatus.EXPIRED,
                    ErrorCode.EXPIRED,
                    "not sent within the lookback period",
                )
            )
            continue
        if d.channel not in channels:
            prepared.outcomes.append(
                Outcome.final(
                    d.id,
                    d.lease_owner,
                    DeliveryStatus.FAILED,
                    ErrorCode.PROVIDER_REJECTED,
                    f"no {d.channel} channel is configured",
                )
            )
            continue
        # Quiet hours hold campaign SMS, not invites: an invite answers the consumer's own
        # call, and eligibility (which ignores them) said a send would be attempted now.
        invite = d.source == Source.IVR_DEFLECTION
        result = check(recipients[d.id], facts, now, quiet_hours=not invite)
        if isinstance(result, Fail):
            prepared.outcomes.append(
                Outcome.final(d.id, d.lease_owner, result.status, result.code, result.message)
            )
        elif isinstance(result, Hold):
            until = min(result.until, d.expires_at)
            prepared.outcomes.append(Outcome.hold(d.id, d.lease_owner, until))
        elif origin is None:
            prepared.sends.append((d, conversation_message_of(d, result)))
        else:
            prepared.sends.append((d, message_of(d, origin, result)))
    return prepared


def outcome_of(
    delivery: ClaimedDelivery, result: SendResult, config: DispatchConfig, now: datetime
) -> Outcome:
    """What the channel's answer makes of the delivery."""
    owner = delivery.lease_owner
    if isinstance(result, Accepted):
        return Outcome.sent(delivery.id, owner, result.provider_message_id)
    if isinstance(result, Rejected):
        # The provider says the number unsubscribed: skipped, like a send the checks refuse.
        status = DeliveryStatus.SKIPPED if result.code == ErrorCode.OPTED_OUT else None
        return Outcome.final(
            delivery.id,
            owner,
            status or DeliveryStatus.FAILED,
            result.code,
            result.message,
            result.source,
        )
    at = now + timedelta(seconds=backoff_delay(delivery.attempts, config, result.retry_after))
    if delivery.attempts >= config.max_attempts or at >= delivery.expires_at:
        return Outcome.final(
            delivery.id,
            owner,
            DeliveryStatus.FAILED,
            ErrorCode.PROVIDER_UNAVAILABLE,
            f"gave up after {delivery.attempts} attempts: {result.reason}",
            result.source,
        )
    return Outcome.retry(delivery.id, owner, at, result.reason, result.source)


def cancelled_outcome(delivery: ClaimedDelivery) -> Outcome:
    return Outcome.final(
        delivery.id,
        delivery.lease_owner,
        DeliveryStatus.CANCELLED,
        ErrorCode.CANCELLED,
        "the campaign was cancelled",
    )
