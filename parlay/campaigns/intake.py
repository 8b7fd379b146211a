"""Taking a campaign's consumers in: each one becomes a queued delivery or a refusal with its
reason. Per-consumer problems never fail the request: they are reported in ``failedConsumers``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NotRequired, TypedDict

from parlay.delivery.origins import placeholders
from parlay.delivery.status import CAMPAIGN_PRIORITY, DeliveryStatus, ErrorCode, Source
from parlay.handoffs.snapshot import ChannelConfig, HandoffSnapshot

# Cheap shape check at accept time (ASCII digits only, the whole string: a trailing newline or
# another script's digits would slip past duplicate detection); the full numbering-plan check
# runs at send time.
E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_VARIABLE_KEY = re.compile(r"[1-9][0-9]{0,2}")


class ConsumerContent(TypedDict, total=False):
    """Where one consumer is reached: their in-app consumer ID and/or phone numbers."""

    inapp: str
    sms: str
    wa: str


class ConsumerEntry(TypedDict):
    """One consumer of a campaign request, as the API validated it. A TypedDict, not a class:
    100,000 of them are taken per request, and an object each would cost a tenth of a second."""

    consumerContent: ConsumerContent
    variables: NotRequired[dict[str, str]]


@dataclass(frozen=True)
class FailedConsumer:
    """A consumer that was not queued, and why (``INVALID_NUMBER``, ``MISSING_VARIABLE=2``...)."""

    consumer_content: ConsumerContent
    variables: dict[str, str] | None
    error_message: str


@dataclass
class Intake:
    """The outcome of checking a list of consumers: rows to queue and refusals to report."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    failed: list[FailedConsumer] = field(default_factory=list)


def _required_variables(channel: ChannelConfig, text: str | None) -> set[int]:
    if channel.uses_template:
        return set(range(1, (channel.template_variables or 0) + 1))
    return placeholders(text or "")


def _variables_problem(variables: dict[str, str] | None, required: set[int]) -> str | None:
    given = variables or {}
    for key in given:
        if not _VARIABLE_KEY.fullmatch(key):
            return f"INVALID_VARIABLE={key}"
    for n in sorted(required):
        if str(n) not in given:
            return f"MISSING_VARIABLE={n}"
    if len(given) > len(required):
        return "TOO_MANY_VARIABLES"
    return None


class ConsumerIntake:
    """Checks consumers of one campaign against its handoff; remembers who is already in."""

    def __init__(
        self,
        *,
        account_id: str,
        campaign_id: str,
        handoff: HandoffSnapshot,
        skill: str,
        message_text: str | None,
        now: datetime,
        seen: set[tuple[str, str]] | None = None,
    ) -> None:
        self.account_id = account_id
        self.campaign_id = campaign_id
        self.handoff_id = handoff.id
        self.channels = [c.type for c in handoff.channels]
        self.skill = skill
        self.lookback = handoff.lookback_seconds
        self.now = now
        self.expires_at = now + timedelta(seconds=self.lookback)
        self.required = {
            c.type: _required_variables(c, message_text or c.message_text) for c in handoff.channels
        }
        self.seen = seen if seen is not None else set()

    def take(self, consumers: Sequence[ConsumerEntry]) -> Intake:
        intake = Intake()
        first_type = self.channels[0]
        for consumer in consumers:
            content = consumer["consumerContent"]
            variables = consumer.get("variables")
            channel = next((c for c in self.channels if content.get(c)), None)
            problem = None
            if channel is None:
                problem = f"MISSING_CONSUMER_INFORMATION={first_type}"
            else:
                address = str(content.get(channel))
                if channel != "inapp" and not E164.fullmatch(address):
                    problem = ErrorCode.INVALID_NUMBER.value
                elif (channel, address) in self.seen:
                    problem = "DUPLICATE_CONSUMER"
                else:
                    problem = _variables_problem(variables, self.required[channel])
            if problem is not None:
                intake.failed.append(FailedConsumer(content, variables, problem))
                continue
            assert channel is not None
            self.seen.add((channel, str(content.get(channel))))
            intake.rows.append(self._row(channel, content, variables))
        return intake

    @staticmethod
    def _linked_phone(content: ConsumerContent) -> str | None:
        """The number an in-app consumer also gave, kept to link identities; one that is not
        E.164 is dropped (it is not where this message goes, so it does not refuse the consumer,
        and unchecked it could overflow the column)."""
        phone = content.get("sms") or content.get("wa")
        return phone if phone and E164.fullmatch(phone) else None

    def _row(
        self, channel: str, content: ConsumerContent, variables: dict[str, str] | None
    ) -> tuple[Any, ...]:
        """A queued delivery, in the order of ``lifecycle.QUEUED_COLUMNS``."""
        return (
            self.account_id,
            Source.PROACTIVE.value,
            self.campaign_id,
            self.handoff_id,
            self.skill,
            CAMPAIGN_PRIORITY,
            channel,
            content.get("inapp"),
            content.get(channel) if channel != "inapp" else self._linked_phone(content),
            variables,
            self.lookback,
            self.expires_at,
            DeliveryStatus.QUEUED.value,
            0,
            self.now,
            self.now,
        )
