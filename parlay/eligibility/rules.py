"""The checks of SPEC §8, run at send time by the dispatcher and at call time by eligibility.

``load_facts`` reads, in a few bulk queries, what the checks need about a batch of recipients
(linked identities, open conversations, devices, SMS opt-outs); ``check`` is then a pure function
of one recipient and those facts, so a 500-delivery batch costs a handful of queries.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.channels.base import PushTarget
from parlay.consumers.models import Consumer, Device, SmsOptOut
from parlay.conversations.models import Conversation
from parlay.outbound.quiet_hours import next_send_time
from parlay.outbound.status import DeliveryStatus, ErrorCode
from parlay.phone import is_mobile, normalize_e164

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class Recipient:
    """Who a (possible) delivery goes to, and under which handoff rules."""

    account_id: str
    channel: str
    consumer_id: str | None
    phone: str | None
    app_ids: tuple[str, ...] = ()
    push_when_logged_in: bool = True
    push_when_logged_out: bool = False


@dataclass(frozen=True)
class Pass:
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


@dataclass
class Facts:
    """What the database says about a batch of recipients of one or more accounts."""

    # (account, identity) -> every identity linked to it ("c:<consumerId>" / "p:<phone>").
    linked: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    open_identities: set[tuple[str, str]] = field(default_factory=set)
    logged_in_once: set[tuple[str, str]] = field(default_factory=set)
    devices: dict[tuple[str, str], list[Device]] = field(default_factory=lambda: defaultdict(list))
    opted_out: set[tuple[str, str]] = field(default_factory=set)


def _cid(consumer_id: str) -> str:
    return f"c:{consumer_id}"


def _pid(phone: str) -> str:
    return f"p:{phone}"


def _identities(r: Recipient) -> set[str]:
    ids = set()
    if r.consumer_id:
        ids.add(_cid(r.consumer_id))
    if r.phone:
        ids.add(_pid(r.phone))
    return ids


async def load_facts(session: AsyncSession, recipients: Iterable[Recipient]) -> Facts:
    facts = Facts()
    by_account: dict[str, list[Recipient]] = defaultdict(list)
    for r in recipients:
        by_account[r.account_id].append(r)
    for account_id, group in by_account.items():
        consumer_ids = sorted({r.consumer_id for r in group if r.consumer_id})
        phones = sorted({r.phone for r in group if r.phone})
        await _load_links(session, facts, account_id, consumer_ids, phones)
        everyone = set().union(
            *(facts.linked.get((account_id, i), {i}) for r in group for i in _identities(r))
        )
        await _load_open_conversations(session, facts, account_id, everyone)
        inapp_ids = sorted({r.consumer_id for r in group if r.consumer_id and r.channel == "inapp"})
        if inapp_ids:
            await _load_devices(session, facts, account_id, inapp_ids)
        sms_phones = sorted({r.phone for r in group if r.phone and r.channel == "sms"})
        if sms_phones:
            rows = await session.execute(
                select(SmsOptOut.phone).where(
                    SmsOptOut.account_id == account_id, SmsOptOut.phone.in_(sms_phones)
                )
            )
            facts.opted_out.update((account_id, p) for p in rows.scalars())
    return facts


async def _load_links(
    session: AsyncSession, facts: Facts, account_id: str, consumer_ids: list[str], phones: list[str]
) -> None:
    conditions = []
    if consumer_ids:
        conditions.append(Consumer.consumer_id.in_(consumer_ids))
    if phones:
        conditions.append(Consumer.phone.in_(phones))
    if not conditions:
        return
    rows = await session.execute(
        select(Consumer.consumer_id, Consumer.phone, Consumer.first_login_at).where(
            Consumer.account_id == account_id, or_(*conditions)
        )
    )
    for consumer_id, phone, first_login_at in rows:
        group = set()
        if consumer_id:
            group.add(_cid(consumer_id))
            if first_login_at is not None:
                facts.logged_in_once.add((account_id, consumer_id))
        if phone:
            group.add(_pid(phone))
        for identity in group:
            facts.linked.setdefault((account_id, identity), {identity}).update(group)


async def _load_open_conversations(
    session: AsyncSession, facts: Facts, account_id: str, identities: set[str]
) -> None:
    consumer_ids = [i[2:] for i in identities if i.startswith("c:")]
    phones = [i[2:] for i in identities if i.startswith("p:")]
    conditions = []
    if consumer_ids:
        conditions.append(Conversation.consumer_id.in_(consumer_ids))
    if phones:
        conditions.append(Conversation.phone.in_(phones))
    if not conditions:
        return
    rows = await session.execute(
        select(Conversation.consumer_id, Conversation.phone).where(
            Conversation.account_id == account_id,
            Conversation.state == "OPEN",
            or_(*conditions),
        )
    )
    for consumer_id, phone in rows:
        if consumer_id:
            facts.open_identities.add((account_id, _cid(consumer_id)))
        if phone:
            facts.open_identities.add((account_id, _pid(phone)))


async def _load_devices(
    session: AsyncSession, facts: Facts, account_id: str, consumer_ids: list[str]
) -> None:
    rows = await session.execute(
        select(Device).where(Device.account_id == account_id, Device.consumer_id.in_(consumer_ids))
    )
    for device in rows.scalars():
        facts.devices[(account_id, device.consumer_id)].append(device)


def has_open_conversation(r: Recipient, facts: Facts) -> bool:
    for identity in _identities(r):
        for linked in facts.linked.get((r.account_id, identity), {identity}):
            if (r.account_id, linked) in facts.open_identities:
                return True
    return False


def check(r: Recipient, facts: Facts, now: datetime, *, quiet_hours: bool = True) -> CheckResult:
    """Whether a send to ``r`` on its channel would be attempted now, and if not, why."""
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
    if not r.phone or not _E164.match(r.phone):
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
    targets = tuple(
        PushTarget(d.device_id, d.app_id, d.platform, d.push_service, d.push_token or "")
        for d in allowed
    )
    return Pass(targets)


def _push_allowed(device: Device, r: Recipient) -> bool:
    if device.logged_in:
        return r.push_when_logged_in
    # Logged out: ALL refuses every push; NONE and AGENT keep outbound (proactive/IVR) pushes.
    return r.push_when_logged_out and device.logout_mode in ("NONE", "AGENT")
