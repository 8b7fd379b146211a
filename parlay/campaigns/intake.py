"""Taking a campaign's consumers in: each one becomes a queued delivery or a refusal with its
reason. Per-consumer problems never fail the request: they are reported in ``failedConsumers``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypedDict

from parlay.delivery.origins import placeholders
from parlay.delivery.status import CAMPAIGN_PRIORITY, DeliveryStatus, ErrorCode, Source
from parlay.handoffs.snapshot import ChannelConfig, HandoffSnapshot
from parlay.lib.phone import e164_shape

_VARIABLE_KEY = re.compile(r"[1-9][0-9]{0,2}")
CHANNELS = ("inapp", "sms", "wa")
PHONE_CHANNELS = ("sms", "wa")
# WhatsApp template media (LivePerson's ``headerVariables``): one https URL per kind.
HEADER_KINDS = ("image", "video", "document")
# The phone as a delivery row keeps it: ``+`` and at most 15 digits.
MAX_PHONE_LENGTH = 16


class ConsumerEntry(TypedDict, total=False):
    """One consumer of a campaign request, as the API validated it (LivePerson's fields). A
    TypedDict, not a class: 100,000 of them are taken per request, and an object each would cost
    a tenth of a second."""

    consumerContent: dict[str, str]
    consumerCountryCode: str
    consumerPhoneNumber: str
    variables: dict[str, Any]
    headerVariables: dict[str, str]
    sdes: list[dict[str, Any]]
    ctmrinfo: dict[str, Any]
    personal: dict[str, Any]


@dataclass(frozen=True)
class FailedConsumer:
    """A consumer that was not queued, and why (``INVALID_NUMBER``, ``MISSING_VARIABLE=2``...),
    with what it was sent as (LivePerson echoes the legacy ``phone``/``countryCode`` too)."""

    consumer_content: dict[str, str]
    variables: dict[str, Any] | None
    error_message: str
    header_variables: dict[str, str] | None = None
    phone: str | None = None
    country_code: str | None = None


# A queued consumer as LivePerson lists it: its number, if any, and where it is reached. A tuple,
# not a class: listing 100,000 of them as objects doubled the cost of taking them in.
AcceptedConsumer = tuple[str | None, dict[str, str]]


@dataclass
class Intake:
    """The outcome of checking a list of consumers: rows to queue, who they are (in the same
    order, only when asked for), and refusals to report."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    accepted: list[AcceptedConsumer] = field(default_factory=list)
    failed: list[FailedConsumer] = field(default_factory=list)


def _required_variables(channel: ChannelConfig, text: str | None) -> set[int]:
    if channel.uses_template:
        return set(range(1, (channel.template_variables or 0) + 1))
    return placeholders(text or "")


def _variables_problem(variables: dict[str, Any] | None, required: set[int]) -> str | None:
    given = variables or {}
    for key, value in given.items():
        if not _VARIABLE_KEY.fullmatch(key):
            return f"INVALID_VARIABLE={key}"
        if not isinstance(value, str):
            return f"VARIABLE_NOT_STRING={key}"
    for n in sorted(required):
        if str(n) not in given:
            return f"MISSING_VARIABLE={n}"
    if len(given) > len(required):
        return "TOO_MANY_VARIABLES"
    return None


def header_variables_problem(header: dict[str, str]) -> str | None:
    """LivePerson's per-consumer errors for WhatsApp template media."""
    for kind, url in header.items():
        if kind not in HEADER_KINDS:
            return f"INVALID_HEADER_VARIABLE={kind}"
        if not url.startswith("https://") or len(url) <= len("https://"):
            return "HEADER_VARIABLE_INVALID_URL"
    if len(header) > 1:
        return "TOO_MANY_HEADER_VARIABLES"
    return None


def consumer_sdes(consumer: ConsumerEntry) -> list[dict[str, Any]] | None:
    """Every engagement attribute of a consumer in one list: the ``sdes`` array, and the
    ``ctmrinfo`` / ``personal`` objects given on their own, in LivePerson's SDE shape."""
    sdes = list(consumer.get("sdes") or ())
    info, personal = consumer.get("ctmrinfo"), consumer.get("personal")
    if info is not None:
        sdes.append({"type": "ctmrinfo", "info": info})
    if personal is not None:
        sdes.append({"type": "personal", "personal": personal})
    return sdes or None


def consumer_content(consumer: ConsumerEntry, phone_channels: Sequence[str]) -> dict[str, str]:
    """Where the consumer is reached: ``consumerContent``, or the legacy ``consumerCountryCode``
    + ``consumerPhoneNumber`` on each of the handoff's phone channels it does not name."""
    content = consumer.get("consumerContent") or {}
    number = consumer.get("consumerPhoneNumber")
    if number is None:
        return content
    full = (consumer.get("consumerCountryCode") or "").removeprefix("+") + number.removeprefix("+")
    legacy = {channel: full for channel in phone_channels if channel not in content}
    return {**content, **legacy} if legacy else content


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
        list_accepted: bool = True,
    ) -> None:
        self.account_id = account_id
        self.campaign_id = campaign_id
        self.handoff_id = handoff.id
        self.channels = [c.type for c in handoff.channels]
        self.phone_channels = [c for c in self.channels if c in PHONE_CHANNELS] or ["sms"]
        self.skill = skill
        self.lookback = handoff.lookback_seconds
        self.now = now
        self.expires_at = now + timedelta(seconds=self.lookback)
        self.required = {
            c.type: _required_variables(c, message_text or c.message_text) for c in handoff.channels
        }
        self.seen = seen if seen is not None else set()
        self.list_accepted = list_accepted

    def _problem(
        self, content: dict[str, str], consumer: ConsumerEntry
    ) -> tuple[str | None, str | None, str]:
        """(problem, channel, address): the channel and address the consumer is reached at,
        or why they cannot be."""
        channel = None
        for candidate in self.channels:  # a loop, not next(generator): 100,000 times per request
            if content.get(candidate):
                channel = candidate
                break
        if channel is None:
            unknown = next((key for key in content if key not in CHANNELS), None)
            if unknown is not None:
                return f"CHANNEL_NOT_SUPPORTED={unknown}", None, ""
            return f"MISSING_CONSUMER_INFORMATION={self.channels[0]}", None, ""
        address = content[channel]
        if channel != "inapp":
            shaped = e164_shape(address)
            if shaped is None:
                return ErrorCode.INVALID_NUMBER.value, channel, address
            address = shaped
        if (channel, address) in self.seen:
            duplicate = "DUPLICATE_CONSUMER" if channel == "inapp" else "DUPLICATE_NUMBER"
            return duplicate, channel, address
        problem = _variables_problem(consumer.get("variables"), self.required[channel])
        header = consumer.get("headerVariables")
        if problem is None and header:
            problem = header_variables_problem(header)
        return problem, channel, address

    def refusal(self, consumer: ConsumerEntry) -> str | None:
        """Why ``take`` would refuse ``consumer`` (``INVALID_NUMBER``, ...), else None; an
        accepted one is remembered, so a later duplicate is refused. What a client checks a file
        with before sending it."""
        content = consumer.get("consumerContent") or {}
        if "consumerPhoneNumber" in consumer:
            content = consumer_content(consumer, self.phone_channels)
        problem, channel, address = self._problem(content, consumer)
        if problem is not None or channel is None:
            return problem or ""
        self.seen.add((channel, address))
        return None

    def take(self, consumers: Sequence[ConsumerEntry]) -> Intake:
        intake = Intake()
        rows, accepted, listed = intake.rows, intake.accepted, self.list_accepted
        for consumer in consumers:
            # Once per consumer, up to 100,000 times: the rare forms take the slow path only.
            content = consumer.get("consumerContent") or {}
            if "consumerPhoneNumber" in consumer:
                content = consumer_content(consumer, self.phone_channels)
            problem, channel, address = self._problem(content, consumer)
            if problem is not None or channel is None:
                intake.failed.append(
                    FailedConsumer(
                        content,
                        consumer.get("variables"),
                        problem or "",
                        consumer.get("headerVariables"),
                        consumer.get("consumerPhoneNumber"),
                        consumer.get("consumerCountryCode"),
                    )
                )
                continue
            self.seen.add((channel, address))
            phone = address if channel != "inapp" else self._linked_phone(content)
            rows.append(self._row(channel, content, phone, consumer))
            if listed:
                accepted.append((phone, content))
        return intake

    @staticmethod
    def _linked_phone(content: dict[str, str]) -> str | None:
        """The number an in-app consumer also gave, kept to link identities; one that is not
        E.164-shaped is dropped (it is not where this message goes, so it does not refuse the
        consumer, and unchecked it could overflow the column)."""
        phone = content.get("sms") or content.get("wa")
        return e164_shape(phone) if phone else None

    def _row(
        self, channel: str, content: dict[str, str], phone: str | None, consumer: ConsumerEntry
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
            phone,
            consumer.get("variables"),
            self.lookback,
            self.expires_at,
            DeliveryStatus.QUEUED.value,
            0,
            self.now,
            self.now,
            consumer.get("headerVariables"),
            consumer_sdes(consumer)
            if "ctmrinfo" in consumer or "personal" in consumer
            else consumer.get("sdes") or None,
        )
