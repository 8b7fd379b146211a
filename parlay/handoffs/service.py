"""Handoffs: saved outbound configurations, and every rule they must follow."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.service import require_skill
from parlay.handoffs.models import DEFAULT_LOOKBACK_DAYS, Handoff, lookback_seconds
from parlay.handoffs.snapshot import ChannelConfig, HandoffSnapshot
from parlay.lib.db.base import table_of
from parlay.lib.db.direct import DirectSelect, Reader
from parlay.lib.errors import (
    Conflict,
    ErrorCode,
    FieldError,
    Forbidden,
    NoSuchHandoff,
    NotFound,
    invalid_field,
)
from parlay.lib.phone import normalize_e164
from parlay.lib.text import message_text_problem

MIN_LOOKBACK_HOURS = 1
MAX_LOOKBACK_HOURS = 30 * 24
MAX_NOTIFICATION_TITLE = 100


@dataclass(frozen=True)
class HandoffSpec:
    """A handoff as the caller wrote it, before the rules are checked."""

    name: str
    skill: str | None
    lookback_period_day: int | None
    lookback_period_hour: int | None
    route_all_within_lookback: bool
    push_when_logged_in: bool
    push_when_logged_out: bool
    channels: Sequence[ChannelConfig]


def resolve_lookback(day: int | None, hour: int | None) -> tuple[int, int]:
    """Default 30 days; otherwise the total must lie within 1 hour and 30 days."""
    if day is None and hour is None:
        return DEFAULT_LOOKBACK_DAYS, 0
    day, hour = day or 0, hour or 0
    total = day * 24 + hour
    if not MIN_LOOKBACK_HOURS <= total <= MAX_LOOKBACK_HOURS:
        raise invalid_field(
            "lookbackPeriodDay",
            f"the lookback period must total 1 hour to 30 days, not {day} d {hour} h",
        )
    return day, hour


def _refuse(path: str, fields: dict[str, object], why: str) -> None:
    """Refuse any of these fields (by API name) that is set."""
    for name, value in fields.items():
        if value is not None:
            raise invalid_field(f"{path}.{name}", why)


def _templates(c: ChannelConfig) -> dict[str, object]:
    return {
        "templateName": c.template_name,
        "templateLanguage": c.template_language,
        "templateVariables": c.template_variables,
    }


def check_channels(channels: Sequence[ChannelConfig]) -> list[ChannelConfig]:
    """The channel rules of a handoff. Returns the channels normalised (numbers in E.164)."""
    types = [c.type for c in channels]
    if len(set(types)) != len(types):
        raise invalid_field("channels", "each channel type may appear once")
    if "inapp" in types and len(types) > 1:
        raise invalid_field("channels", "inapp cannot be combined with sms or wa in one handoff")
    checked = []
    for i, channel in enumerate(channels):
        path = f"channels.{i}"
        kind = channel.type
        out = channel
        if kind == "inapp":
            app_ids = channel.app_ids or ()
            if not app_ids:
                raise invalid_field(
                    f"{path}.appIds", "an inapp channel names the app IDs it may push to"
                )
            if any(not isinstance(a, str) or not 1 <= len(a) <= 255 for a in app_ids):
                raise invalid_field(f"{path}.appIds", "each app ID is 1-255 characters")
            out = replace(out, app_ids=tuple(dict.fromkeys(app_ids)))
            _refuse(path, _templates(channel), "message templates are refused on inapp")
            _refuse(
                path,
                {"outboundNumber": channel.outbound_number},
                "inapp sends from the app, not a number",
            )
        else:
            _refuse(path, {"appIds": channel.app_ids}, f"app IDs belong to inapp, not {kind}")
            _refuse(
                path,
                {"notificationTitle": channel.notification_title},
                f"no notification title on {kind}",
            )
            if kind == "sms":
                _refuse(path, _templates(channel), "message templates are refused on sms")
            else:
                for name, value in (
                    ("templateName", channel.template_name),
                    ("templateLanguage", channel.template_language),
                ):
                    if not value:
                        raise invalid_field(
                            f"{path}.{name}",
                            "a wa channel must name an approved template for sends outside "
                            "WhatsApp's 24-hour window",
                        )
            number = channel.outbound_number
            if number is not None:
                normalized = normalize_e164(number)
                if normalized is None:
                    raise invalid_field(
                        f"{path}.outboundNumber",
                        "not a valid E.164 number",
                        code=ErrorCode.INVALID_PHONE_NUMBER,
                    )
                out = replace(out, outbound_number=normalized)
        text = channel.message_text
        if text is not None and (problem := message_text_problem(text)):
            raise invalid_field(f"{path}.messageText", problem)
        title = channel.notification_title
        if title is not None and (
            problem := message_text_problem(title, max_length=MAX_NOTIFICATION_TITLE)
        ):
            raise invalid_field(f"{path}.notificationTitle", problem)
        checked.append(out)
    return checked


async def _new_handoff_id(session: AsyncSession) -> str:
    while True:
        candidate = "H" + "".join(secrets.choice("0123456789") for _ in range(15))
        if await session.get(Handoff, candidate) is None:
            return candidate


async def _checked(session: AsyncSession, account_id: str, spec: HandoffSpec) -> dict[str, Any]:
    day, hour = resolve_lookback(spec.lookback_period_day, spec.lookback_period_hour)
    channels = check_channels(spec.channels)
    if spec.skill is not None:
        await require_skill(session, account_id, spec.skill)
    return {
        "name": spec.name,
        "skill": spec.skill,
        "lookback_period_day": day,
        "lookback_period_hour": hour,
        "route_all_within_lookback": spec.route_all_within_lookback,
        "push_when_logged_in": spec.push_when_logged_in,
        "push_when_logged_out": spec.push_when_logged_out,
        "channels": [c.to_json() for c in channels],
    }


async def create_handoff(
    session: AsyncSession,
    account_id: str,
    spec: HandoffSpec,
    now: datetime,
    *,
    handoff_id: str | None = None,
    may_choose_id: bool = False,
) -> Handoff:
    """A new handoff. An admin may keep the ID it had at LivePerson (``handoff_id``), so that
    the brand's systems go on naming it; IDs are unique across accounts (409 when taken, even
    by a deleted handoff: a campaign may still name it)."""
    if handoff_id is not None:
        if not may_choose_id:
            raise Forbidden("id: only an admin may choose a handoff's ID")
        if await session.get(Handoff, handoff_id) is not None:
            raise Conflict(f"id: the handoff ID {handoff_id!r} is taken")
    fields = await _checked(session, account_id, spec)
    handoff = Handoff(
        id=handoff_id or await _new_handoff_id(session),
        account_id=account_id,
        created_at=now,
        updated_at=now,
        **fields,
    )
    try:
        # In a savepoint: two admins choosing one ID at once, the loser's insert fails without
        # taking its transaction down with it.
        async with session.begin_nested():
            session.add(handoff)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"id: the handoff ID {handoff.id!r} is taken") from exc
    return handoff


async def replace_handoff(
    session: AsyncSession, account_id: str, handoff_id: str, spec: HandoffSpec, now: datetime
) -> Handoff:
    handoff = await get_handoff(session, account_id, handoff_id)
    for name, value in (await _checked(session, account_id, spec)).items():
        setattr(handoff, name, value)
    handoff.updated_at = now
    await session.flush()
    return handoff


# Built once: every eligibility check reads its handoff (docs/architecture.md, "Statements built
# once"); a query, not ``session.get``, which costs more for an object not loaded yet.
_HANDOFF = select(Handoff).where(Handoff.id == bindparam("handoff_id"))


async def get_handoff(session: AsyncSession, account_id: str, handoff_id: str) -> Handoff:
    """The account's live handoff, or 404."""
    handoff = (await session.execute(_HANDOFF, {"handoff_id": handoff_id})).scalar_one_or_none()
    if handoff is None or handoff.account_id != account_id or handoff.deleted_at is not None:
        raise NotFound(f"no handoff {handoff_id!r}")
    return handoff


class _LiveHandoff(NamedTuple):
    """A live handoff's columns that ``HandoffSnapshot.of`` reads (``_LIVE_HANDOFF`` selects
    these fields, in this order)."""

    id: str
    name: str
    skill: str | None
    lookback_period_day: int
    lookback_period_hour: int
    route_all_within_lookback: bool
    push_when_logged_in: bool
    push_when_logged_out: bool
    channels: list[dict[str, Any]]

    @property
    def lookback_seconds(self) -> int:
        return lookback_seconds(self.lookback_period_day, self.lookback_period_hour)


_HANDOFFS = table_of(Handoff)
_LIVE_HANDOFF = DirectSelect(
    select(*(_HANDOFFS.c[name] for name in _LiveHandoff._fields)).where(
        _HANDOFFS.c.id == bindparam("handoff_id"),
        _HANDOFFS.c.account_id == bindparam("account_id"),
        _HANDOFFS.c.deleted_at.is_(None),
    )
)


async def require_handoff_snapshot(
    session: Reader, account_id: str, handoff_id: str, field: str = "handoffId"
) -> HandoffSnapshot:
    """``require_handoff`` as the snapshot a call keeps, read straight from the driver
    (``lib/db/direct.py``): every eligibility check reads it."""
    rows = await _LIVE_HANDOFF.rows(session, {"handoff_id": handoff_id, "account_id": account_id})
    if not rows:
        raise _no_such_handoff(handoff_id, field)
    return HandoffSnapshot.of(_LiveHandoff(*rows[0]))


def _no_such_handoff(handoff_id: str, field: str) -> NoSuchHandoff:
    # Names the field in ``errors`` like require_skill does (1300), so a client can tell which of
    # its fields was wrong.
    return NoSuchHandoff(
        f"{field}: no handoff {handoff_id!r} in this account",
        errors=[FieldError(field, f"no handoff {handoff_id!r}")],
    )


async def require_handoff(
    session: AsyncSession, account_id: str, handoff_id: str, field: str = "handoffId"
) -> Handoff:
    """For campaigns and calls naming a handoff: 400 with errorCode 1500 when there is none."""
    try:
        return await get_handoff(session, account_id, handoff_id)
    except NotFound:
        raise _no_such_handoff(handoff_id, field) from None


async def list_handoffs(session: AsyncSession, account_id: str) -> Sequence[Handoff]:
    result = await session.execute(
        select(Handoff)
        .where(Handoff.account_id == account_id, Handoff.deleted_at.is_(None))
        .order_by(Handoff.created_at, Handoff.id)
    )
    return result.scalars().all()


async def delete_handoff(
    session: AsyncSession, account_id: str, handoff_id: str, now: datetime
) -> None:
    """Soft delete: new sends cannot name it; past campaigns and calls keep their history."""
    handoff = await get_handoff(session, account_id, handoff_id)
    handoff.deleted_at = now
    await session.flush()
