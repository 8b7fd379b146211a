"""What the send-time checks need to know about a batch of recipients, read in a few bulk
queries: linked identities, open conversations, devices, SMS opt-outs; and, for the pushes of
conversation messages, which of the consumers' devices hold a live stream (``Presence``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.apps.models import Device
from parlay.consumers.models import Consumer, SmsOptOut
from parlay.conversations.models import Conversation
from parlay.conversations.topics import device_presence
from parlay.eligibility.rules import Facts, Recipient, cid, identities, pid
from parlay.lib.events.presence import Presence


async def load_facts(
    session: AsyncSession, recipients: Iterable[Recipient], presence: Presence | None = None
) -> Facts:
    """``presence``: where live streams are, asked at the last moment (without it, no device
    counts as streaming)."""
    facts = Facts()
    by_account: dict[str, list[Recipient]] = defaultdict(list)
    for r in recipients:
        by_account[r.account_id].append(r)
    for account_id, group in by_account.items():
        consumer_ids = sorted({r.consumer_id for r in group if r.consumer_id})
        phones = sorted({r.phone for r in group if r.phone})
        await _load_links(session, facts, account_id, consumer_ids, phones)
        everyone = set().union(
            *(facts.linked.get((account_id, i), {i}) for r in group for i in identities(r))
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
    if presence is not None:
        pushed = [r for group in by_account.values() for r in group if r.conversation_push]
        await _load_streaming(facts, pushed, presence)
    return facts


async def _load_streaming(facts: Facts, recipients: list[Recipient], presence: Presence) -> None:
    devices: dict[str, tuple[tuple[str, str], str]] = {}
    for r in recipients:
        if r.consumer_id:
            who = (r.account_id, r.consumer_id)
            for d in facts.devices.get(who, []):
                devices[device_presence(r.account_id, r.consumer_id, d.device_id)] = (
                    who,
                    d.device_id,
                )
    if devices:
        for key in await presence.present(devices.keys()):
            who, device_id = devices[key]
            facts.streaming[who].add(device_id)


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
            group.add(cid(consumer_id))
            if first_login_at is not None:
                facts.logged_in_once.add((account_id, consumer_id))
        if phone:
            group.add(pid(phone))
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
            facts.open_identities.add((account_id, cid(consumer_id)))
        if phone:
            facts.open_identities.add((account_id, pid(phone)))


async def _load_devices(
    session: AsyncSession, facts: Facts, account_id: str, consumer_ids: list[str]
) -> None:
    rows = await session.execute(
        select(Device).where(Device.account_id == account_id, Device.consumer_id.in_(consumer_ids))
    )
    for device in rows.scalars():
        facts.devices[(account_id, device.consumer_id)].append(device)
