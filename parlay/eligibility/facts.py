"""What the send-time checks need to know about a batch of recipients, read in a few bulk
queries: linked identities, open conversations, devices, SMS opt-outs; and, for the pushes of
conversation messages, which of the consumers' devices hold a live stream (``Presence``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, or_, select

from parlay.apps.models import Device
from parlay.consumers.identities import CONSUMERS
from parlay.consumers.models import SmsOptOut
from parlay.conversations.models import Conversation
from parlay.conversations.topics import device_presence
from parlay.eligibility.rules import Facts, Recipient, cid, identities, pid
from parlay.lib.db.base import table_of
from parlay.lib.db.direct import DirectSelect, Reader, is_postgres
from parlay.lib.db.lists import among
from parlay.lib.events.presence import Presence


async def load_facts(
    session: Reader, recipients: Iterable[Recipient], presence: Presence | None = None
) -> Facts:
    """``presence``: where live streams are, asked at the last moment (without it, no device
    counts as streaming)."""
    facts = Facts()
    postgres = await is_postgres(session)
    by_account: dict[str, list[Recipient]] = defaultdict(list)
    for r in recipients:
        by_account[r.account_id].append(r)
    for account_id, group in by_account.items():
        consumer_ids = sorted({r.consumer_id for r in group if r.consumer_id})
        phones = sorted({r.phone for r in group if r.phone})
        await _load_links(session, facts, account_id, consumer_ids, phones, postgres)
        everyone = set().union(
            *(facts.linked.get((account_id, i), {i}) for r in group for i in identities(r))
        )
        await _load_open_conversations(session, facts, account_id, everyone, postgres)
        inapp_ids = sorted({r.consumer_id for r in group if r.consumer_id and r.channel == "inapp"})
        if inapp_ids:
            await _load_devices(session, facts, account_id, inapp_ids, postgres)
        sms_phones = sorted({r.phone for r in group if r.phone and r.channel == "sms"})
        if sms_phones:
            rows = await _opt_outs_statement(postgres).rows(
                session, {"account_id": account_id, "phones": sms_phones}
            )
            facts.opted_out.update((account_id, p) for (p,) in rows)
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


# The statements are built once per shape (which of the identities a batch has), with their
# values bound at execution: an eligibility check runs each of them, and building a statement
# (its operators, coercions and cache key) cost more than running it (docs/architecture.md,
# "Statements built once").


def _either(id_column: Any, phone_column: Any, ids: bool, phones: bool, postgres: bool) -> Any:
    conditions = []
    if ids:
        conditions.append(among(id_column, "consumer_ids", postgres))
    if phones:
        conditions.append(among(phone_column, "phones", postgres))
    return or_(*conditions)


# Statements on the tables' columns are Core, executed without the ORM's compile and loading
# steps (the columns are all these reads want).
CONVERSATIONS = table_of(Conversation)


@cache
def _links_statement(ids: bool, phones: bool, postgres: bool) -> DirectSelect:
    consumers = CONSUMERS
    return DirectSelect(
        select(consumers.c.consumer_id, consumers.c.phone, consumers.c.first_login_at).where(
            consumers.c.account_id == bindparam("account_id"),
            _either(consumers.c.consumer_id, consumers.c.phone, ids, phones, postgres),
        )
    )


@cache
def _open_conversations_statement(ids: bool, phones: bool, postgres: bool) -> DirectSelect:
    conversations = CONVERSATIONS
    return DirectSelect(
        select(conversations.c.consumer_id, conversations.c.phone).where(
            conversations.c.account_id == bindparam("account_id"),
            conversations.c.state == "OPEN",
            _either(conversations.c.consumer_id, conversations.c.phone, ids, phones, postgres),
        )
    )


class DeviceRow(NamedTuple):
    """A device as the checks read it (``rules.DeviceFacts``), loaded without the ORM: the
    dispatcher reads the devices of 500 recipients per batch, and building ``Device`` objects
    was 5 % of a worker's time."""

    consumer_id: str
    device_id: str
    app_id: str
    platform: str
    push_service: str
    push_token: str | None
    token_disabled_at: datetime | None
    logged_in: bool
    logout_mode: str | None
    updated_at: datetime


DEVICES = table_of(Device)


@cache
def _devices_statement(postgres: bool) -> DirectSelect:
    return DirectSelect(
        select(*(DEVICES.c[name] for name in DeviceRow._fields)).where(
            DEVICES.c.account_id == bindparam("account_id"),
            among(DEVICES.c.consumer_id, "consumer_ids", postgres),
        )
    )


OPT_OUTS = table_of(SmsOptOut)


@cache
def _opt_outs_statement(postgres: bool) -> DirectSelect:
    return DirectSelect(
        select(OPT_OUTS.c.phone).where(
            OPT_OUTS.c.account_id == bindparam("account_id"),
            among(OPT_OUTS.c.phone, "phones", postgres),
        )
    )


def _identity_params(account_id: str, consumer_ids: list[str], phones: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {"account_id": account_id}
    if consumer_ids:
        params["consumer_ids"] = consumer_ids
    if phones:
        params["phones"] = phones
    return params


async def _load_links(
    session: Reader,
    facts: Facts,
    account_id: str,
    consumer_ids: list[str],
    phones: list[str],
    postgres: bool,
) -> None:
    if not consumer_ids and not phones:
        return
    rows = await _links_statement(bool(consumer_ids), bool(phones), postgres).rows(
        session, _identity_params(account_id, consumer_ids, phones)
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
    session: Reader, facts: Facts, account_id: str, identities: set[str], postgres: bool
) -> None:
    consumer_ids = [i[2:] for i in identities if i.startswith("c:")]
    phones = [i[2:] for i in identities if i.startswith("p:")]
    if not consumer_ids and not phones:
        return
    rows = await _open_conversations_statement(bool(consumer_ids), bool(phones), postgres).rows(
        session, _identity_params(account_id, consumer_ids, phones)
    )
    for consumer_id, phone in rows:
        if consumer_id:
            facts.open_identities.add((account_id, cid(consumer_id)))
        if phone:
            facts.open_identities.add((account_id, pid(phone)))


async def _load_devices(
    session: Reader, facts: Facts, account_id: str, consumer_ids: list[str], postgres: bool
) -> None:
    rows = await _devices_statement(postgres).rows(
        session, {"account_id": account_id, "consumer_ids": consumer_ids}
    )
    for row in rows:
        device = DeviceRow(*row)
        facts.devices[(account_id, device.consumer_id)].append(device)
