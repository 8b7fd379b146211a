"""A brand's webhook subscriptions, inside a unit of work the caller gives."""

from __future__ import annotations

import secrets as random_secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.lib.errors import Conflict, NotFound
from parlay.lib.secretbox import Sealed, SecretBox
from parlay.webhooks.models import (
    ACTIVE,
    WebhookAttempt,
    WebhookOutboxEvent,
    WebhookSubscription,
)


@dataclass(frozen=True)
class SubscriptionView:
    """A subscription as its owner sees it (never its secret)."""

    id: int
    url: str
    events: list[str]
    description: str | None
    state: str
    disabled_reason: str | None
    disabled_at: datetime | None
    created_at: datetime
    pending_events: int


def new_secret() -> str:
    """A signing secret: 32 random bytes, URL-safe base64, with a prefix that says what it is."""
    return "whsec_" + random_secrets.token_urlsafe(32)


async def _pending(session: AsyncSession, ids: Sequence[int]) -> dict[int, int]:
    if not ids:
        return {}
    result = await session.execute(
        select(WebhookOutboxEvent.subscription_id, func.count())
        .where(WebhookOutboxEvent.subscription_id.in_(ids))
        .group_by(WebhookOutboxEvent.subscription_id)
    )
    return {sid: int(n) for sid, n in result.all()}


def _view(s: WebhookSubscription, pending: int) -> SubscriptionView:
    return SubscriptionView(
        s.id,
        s.url,
        list(s.events),
        s.description,
        s.state,
        s.disabled_reason,
        s.disabled_at,
        s.created_at,
        pending,
    )


async def create(
    session: AsyncSession,
    box: SecretBox,
    account_id: str,
    *,
    url: str,
    events: Sequence[str],
    description: str | None,
    now: datetime,
) -> tuple[SubscriptionView, str]:
    """A new active subscription and its signing secret (in clear: shown this once)."""
    secret = new_secret()
    row = WebhookSubscription(
        account_id=account_id,
        url=url,
        events=list(dict.fromkeys(events)),
        description=description,
        secret=box.seal(secret).to_json(),
        state=ACTIVE,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return _view(row, 0), secret


async def _get(session: AsyncSession, account_id: str, subscription_id: int) -> WebhookSubscription:
    row = await session.scalar(
        select(WebhookSubscription).where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.account_id == account_id,
        )
    )
    if row is None:
        raise NotFound(f"no webhook {subscription_id}")
    return row


async def get(session: AsyncSession, account_id: str, subscription_id: int) -> SubscriptionView:
    row = await _get(session, account_id, subscription_id)
    return _view(row, (await _pending(session, [row.id])).get(row.id, 0))


async def list_all(session: AsyncSession, account_id: str) -> list[SubscriptionView]:
    rows = (
        await session.scalars(
            select(WebhookSubscription)
            .where(WebhookSubscription.account_id == account_id)
            .order_by(WebhookSubscription.id)
        )
    ).all()
    pending = await _pending(session, [r.id for r in rows])
    return [_view(r, pending.get(r.id, 0)) for r in rows]


async def remove(session: AsyncSession, account_id: str, subscription_id: int) -> None:
    """Delete the subscription with its undelivered events and its attempts."""
    row = await _get(session, account_id, subscription_id)
    for table in (WebhookOutboxEvent, WebhookAttempt):
        await session.execute(
            delete(table)
            .where(table.subscription_id == row.id)
            .execution_options(synchronize_session=False)
        )
    await session.delete(row)


async def enable(
    session: AsyncSession, account_id: str, subscription_id: int, now: datetime
) -> SubscriptionView:
    """Active again: its kept events are sent at once, and new ones are written again."""
    row = await _get(session, account_id, subscription_id)
    if row.state != ACTIVE:
        row.state, row.disabled_reason, row.disabled_at = ACTIVE, None, None
        # A fresh 24 hours for the kept events: their age is counted from now.
        await session.execute(
            update(WebhookOutboxEvent)
            .where(WebhookOutboxEvent.subscription_id == row.id)
            .values(created_at=now, next_attempt_at=now, lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        await session.flush()
    return await get(session, account_id, subscription_id)


async def require_active(session: AsyncSession, account_id: str, subscription_id: int) -> None:
    row = await _get(session, account_id, subscription_id)
    if row.state != ACTIVE:
        raise Conflict(f"webhook {subscription_id} is disabled: enable it first")


async def attempts(
    session: AsyncSession, account_id: str, subscription_id: int
) -> list[WebhookAttempt]:
    """The last attempts of the subscription, newest first."""
    await _get(session, account_id, subscription_id)
    return list(
        (
            await session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.subscription_id == subscription_id)
                .order_by(WebhookAttempt.id.desc())
                .limit(100)
            )
        ).all()
    )


async def reencrypt(session: AsyncSession, box: SecretBox) -> int:
    """Every subscription's secret sealed again with the newest key; how many."""
    rows = (await session.scalars(select(WebhookSubscription))).all()
    for row in rows:
        row.secret = box.reseal(Sealed.from_json(row.secret, f"webhook {row.id}")).to_json()
    return len(rows)
