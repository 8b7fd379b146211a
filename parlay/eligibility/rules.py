"""The send-time checks: whether a send on a channel would reach the consumer now, and if not,
why (the per-delivery error codes of ``docs/api.md#delivery``). The dispatcher runs them before
every send and the C2M eligibility call before answering, so "available" always means "a send
now would be attempted".

``check`` is a pure function of one recipient and the ``Facts`` that ``parlay.eligibility.facts``
loads for a whole batch in a few queries.

An agent's or bot's message of an in-app conversation (``Recipient.conversation_push``) has a
rule of its own (``conversation_push_targets``): no handoff and no open-conversation check (the
conversation is the reason for it), every device of the consumer whose logout type takes agent
messages, except the devices holding a live stream, where the consumer has seen it already.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple, Protocol

from parlay.channels.base import PushTarget
from parlay.delivery.status import DeliveryStatus, ErrorCode
from parlay.delivery.windows import SendWindow, next_open
from parlay.eligibility.quiet_hours import local_zone, next_send_time
from parlay.lib.phone import is_mobile, normalize_e164

_E164 = re.compile(r"\+[1-9][0-9]{6,14}")


class Recipient(NamedTuple):
    """Who a (possible) delivery goes to, and under which handoff rules."""

    account_id: str
    channel: str
    consumer_id: str | None
    phone: str | None
    app_ids: tuple[str, ...] = ()
    push_when_logged_in: bool = True
    push_when_logged_out: bool = False
    # An agent's or bot's conversation message (ams), not an outbound message: its own rule.
    conversation_push: bool = False
    # The campaign's send windows, in the recipient's local time (none: any time).
    send_windows: tuple[SendWindow, ...] = ()


class Pass(NamedTuple):
    targets: tuple[PushTarget, ...] = ()


@dataclass(frozen=True)
class Fail:
    status: DeliveryStatus
    code: ErrorCode
    message: str


@dataclass(frozen=True)
class Hold:
    """Not now (SMS quiet hours): wait as SCHEDULED until ``until``."""

    until: datetime


CheckResult = Pass | Fail | Hold


class DeviceFacts(Protocol):
    """What the checks read of a device: a ``Device`` row, or the plain row the dispatcher's
    batch reads load (``facts.DeviceRow``: no ORM object per device)."""

    @property
    def consumer_id(self) -> str: ...
    @property
    def device_id(self) -> str: ...
    @property
    def app_id(self) -> str: ...
    @property
    def platform(self) -> str: ...
    @property
    def push_service(self) -> str: ...
    @property
    def push_token(self) -> str | None: ...
    @property
    def token_disabled_at(self) -> datetime | None: ...
    @property
    def logged_in(self) -> bool: ...
    @property
    def logout_mode(self) -> str | None: ...
    @property
    def updated_at(self) -> datetime: ...


@dataclass
class Facts:
    """What the database says about a batch of recipients of one or more accounts."""

    # (account, identity) -> every identity linked to it ("c:<consumerId>" / "p:<phone>").
    linked: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    open_identities: set[tuple[str, str]] = field(default_factory=set)
    logged_in_once: set[tuple[str, str]] = field(default_factory=set)
    devices: dict[tuple[str, str], list[DeviceFacts]] = field(
        default_factory=lambda: defaultdict(list)
    )
    opted_out: set[tuple[str, str]] = field(default_factory=set)
    # (account, consumer) -> IDs of their devices holding a live stream now (asked only for the
    # recipients of conversation pushes).
    streaming: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))


def cid(consumer_id: str) -> str:
    return f"c:{consumer_id}"


def pid(phone: str) -> str:
    return f"p:{phone}"


def identities(r: Recipient) -> set[str]:
    ids = set()
    if r.consumer_id:
        ids.add(cid(r.consumer_id))
    if r.phone:
        ids.add(pid(r.phone))
    return ids


def has_open_conversation(r: Recipient, facts: Facts) -> bool:
    for identity in identities(r):
        for linked in facts.linked.get((r.account_id, identity), {identity}):
            if (r.account_id, linked) in facts.open_identities:
                return True
    return False


def check(r: Recipient, facts: Facts, now: datetime, *, quiet_hours: bool = True) -> CheckResult:
    """Whether a send to ``r`` on its channel would be attempted now, and if not, why (or
    until when it waits: SMS quiet hours, the campaign's send windows)."""
    result = _check(r, facts, now, quiet_hours)
    if r.send_windows and isinstance(result, Pass):
        opens = next_open(r.send_windows, local_zone(r.phone), now)
        if opens is not None:
            return Hold(opens)
    return result


def _check(r: Recipient, facts: Facts, now: datetime, quiet_hours: bool) -> CheckResult:
    if r.conversation_push:
        return _check_conversation_push(r, facts)
    if has_open_conversation(r, facts):
        return Fail(
            DeliveryStatus.FAILED,
            ErrorCode.OPEN_CONVERSATION,
            "the consumer has an open conversation",
        )
    if r.channel == "inapp":
        return _check_inapp(r, facts)
    if r.channel == "sms":
        return _check_sms(r, facts, now, quiet_hours)
    # WhatsApp: only the number's shape; whether it is on WhatsApp only WhatsApp can say.
    if not r.phone or not _E164.fullmatch(r.phone):
        return Fail(DeliveryStatus.FAILED, ErrorCode.INVALID_NUMBER, "not an E.164 number")
    return Pass()


def _check_phone(phone: str | None, *, mobile: bool = False) -> CheckResult:
    valid = normalize_e164(phone) if phone else None
    if valid is None or (mobile and not is_mobile(valid)):
        kind = "mobile number" if mobile else "phone number"
        return Fail(DeliveryStatus.FAILED, ErrorCode.INVALID_NUMBER, f"not a valid {kind}")
    return Pass()


def _check_sms(r: Recipient, facts: Facts, now: datetime, quiet_hours: bool) -> CheckResult:
    result = _check_phone(r.phone, mobile=True)
    if isinstance(result, Fail):
        return result
    assert r.phone is not None
    if (r.account_id, r.phone) in facts.opted_out:
        return Fail(DeliveryStatus.SKIPPED, ErrorCode.OPTED_OUT, "the number replied STOP")
    if quiet_hours and (until := next_send_time(r.phone, now)) is not None:
        return Hold(until)
    return Pass()


def _check_inapp(r: Recipient, facts: Facts) -> CheckResult:
    if not r.consumer_id:
        return Fail(DeliveryStatus.FAILED, ErrorCode.NEVER_LOGGED_IN, "no consumerId")
    devices = facts.devices.get((r.account_id, r.consumer_id), [])
    if not devices and (r.account_id, r.consumer_id) not in facts.logged_in_once:
        return Fail(
            DeliveryStatus.FAILED,
            ErrorCode.NEVER_LOGGED_IN,
            "the consumer never logged in to the app",
        )
    tokened = [
        d for d in devices if d.app_id in r.app_ids and d.push_token and d.token_disabled_at is None
    ]
    if not tokened:
        return Fail(
            DeliveryStatus.FAILED,
            ErrorCode.NO_PUSH_TOKEN,
            "no device of the handoff's apps has a push token",
        )
    allowed = [d for d in tokened if _push_allowed(d, r)]
    if not allowed:
        latest = max(tokened, key=lambda d: d.updated_at)
        if latest.logged_in:
            return Fail(
                DeliveryStatus.FAILED,
                ErrorCode.LOGGED_IN_PUSH_DISABLED,
                "the handoff does not push to logged-in devices",
            )
        return Fail(
            DeliveryStatus.FAILED,
            ErrorCode.LOGGED_OUT_PUSH_DISABLED,
            "the handoff or the logout mode does not allow pushes to logged-out devices",
        )
    return Pass(_targets(allowed))


def _targets(devices: list[DeviceFacts]) -> tuple[PushTarget, ...]:
    return tuple(
        PushTarget(d.device_id, d.app_id, d.platform, d.push_service, d.push_token or "")
        for d in devices
    )


def _push_allowed(device: DeviceFacts, r: Recipient) -> bool:
    if device.logged_in:
        return r.push_when_logged_in
    # Logged out: ALL refuses every push; NONE and AGENT keep outbound (proactive/IVR) pushes.
    return r.push_when_logged_out and device.logout_mode in ("NONE", "AGENT")


def takes_agent_messages(device: DeviceFacts) -> bool:
    """Whether a device is pushed an agent's or bot's conversation message: logged in, or
    logged out with ``NONE`` (all pushes). ``ALL`` takes no push at all, ``AGENT`` only outbound
    (proactive and IVR) ones: a bot speaks for the brand's agents, so it counts as an agent."""
    return device.logged_in or device.logout_mode == "NONE"


def conversation_push_targets(
    devices: Sequence[DeviceFacts], streaming: Collection[str]
) -> CheckResult:
    """The devices an agent's or bot's message is pushed to: those with a live push token whose
    logout type takes agent messages and that hold no live stream (``streaming``: device IDs).
    A consumer whose every such device is streaming saw it there: nothing to push (SKIPPED)."""
    if not devices:
        return Fail(DeliveryStatus.FAILED, ErrorCode.NEVER_LOGGED_IN, "the consumer has no device")
    tokened = [d for d in devices if d.push_token and d.token_disabled_at is None]
    if not tokened:
        return Fail(DeliveryStatus.FAILED, ErrorCode.NO_PUSH_TOKEN, "no device has a push token")
    allowed = [d for d in tokened if takes_agent_messages(d)]
    if not allowed:
        return Fail(
            DeliveryStatus.FAILED,
            ErrorCode.LOGGED_OUT_PUSH_DISABLED,
            "every device is logged out with a logout type that refuses agent messages",
        )
    away = [d for d in allowed if d.device_id not in streaming]
    if not away:
        return Fail(
            DeliveryStatus.SKIPPED,
            ErrorCode.LIVE_STREAM,
            "every device that takes it holds a live stream, where the message was shown",
        )
    return Pass(_targets(away))


def _check_conversation_push(r: Recipient, facts: Facts) -> CheckResult:
    if r.channel != "inapp":
        # An answer in an SMS or WhatsApp conversation: the consumer wrote a moment ago, so no
        # quiet hours; only a number that opted out of SMS since is not written to.
        if r.channel == "sms" and r.phone and (r.account_id, r.phone) in facts.opted_out:
            return Fail(DeliveryStatus.SKIPPED, ErrorCode.OPTED_OUT, "the number replied STOP")
        return _check_phone(r.phone)
    if not r.consumer_id:
        return Fail(DeliveryStatus.FAILED, ErrorCode.NEVER_LOGGED_IN, "no consumerId")
    who = (r.account_id, r.consumer_id)
    return conversation_push_targets(facts.devices.get(who, []), facts.streaming.get(who, set()))
