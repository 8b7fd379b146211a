"""Web tool sign-ins (framework-free): open, resolve and end a server-side session.

The browser holds a random token in a cookie; the table keeps its SHA-256 digest only, so a read
of the database opens no session. A session ends when the user signs out, is disabled, changes
password or roles, after ``idle`` without a request, and at the cap after sign-in in any case.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.limits import RateLimits
from parlay.accounts.models import Account, User, WebSession
from parlay.accounts.permissions import Principal
from parlay.accounts.secrets import digest
from parlay.lib.errors import Unauthenticated

# last_seen_at (and the sliding expiry) is written at most once a minute: a write per page
# view would make every click a write transaction.
TOUCH_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class SessionLifetime:
    idle: timedelta  # without a request for this long, the session ends
    cap: timedelta  # after sign-in, the session ends at this age whatever happens


@dataclass(frozen=True)
class OpenedSession:
    token: str  # for the cookie; never stored
    csrf_token: str
    expires_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """Who a web session stands for, and the token its state-changing requests must carry."""

    principal: Principal
    csrf_token: str
    expires_at: datetime


def _expiry(created_at: datetime, seen_at: datetime, lifetime: SessionLifetime) -> datetime:
    return min(seen_at + lifetime.idle, created_at + lifetime.cap)


async def open_session(
    session: AsyncSession,
    account_id: str,
    user_id: int,
    now: datetime,
    lifetime: SessionLifetime,
) -> OpenedSession:
    """A new session for a user whose password was just checked; expired ones are purged."""
    user = await session.get(User, user_id)
    if user is None:
        raise Unauthenticated("invalid username or password")
    await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires_at = _expiry(now, now, lifetime)
    session.add(
        WebSession(
            digest=digest(token),
            account_id=account_id,
            user_id=user_id,
            roles=list(user.roles),
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=expires_at,
        )
    )
    await session.flush()
    return OpenedSession(token, csrf, expires_at)


async def resolve(
    session: AsyncSession, token: str, now: datetime, lifetime: SessionLifetime
) -> tuple[SignedIn, bool]:
    """The signed-in user of ``token`` (``Unauthenticated`` when none), and whether its last-seen
    time is due to be written (``touch``)."""
    row = (
        await session.execute(
            select(WebSession, User, Account)
            .join(User, User.id == WebSession.user_id)
            .join(Account, Account.id == WebSession.account_id)
            .where(WebSession.digest == digest(token))
        )
    ).one_or_none()
    if row is None:
        raise Unauthenticated("not signed in")
    web, user, account = row
    if web.expires_at <= now:
        raise Unauthenticated("the session has expired; sign in again")
    if user.disabled or sorted(user.roles) != sorted(web.roles):
        raise Unauthenticated("the session has ended; sign in again")
    principal = Principal(
        account_id=account.id,
        kind="user",
        subject_id=user.id,
        name=user.username,
        roles=frozenset(user.roles),
        scopes=frozenset(),
        rate_limits=RateLimits.of(account),
        user_type=user.type,
    )
    due = now - web.last_seen_at >= TOUCH_PRECISION
    expires_at = _expiry(web.created_at, now, lifetime) if due else web.expires_at
    return SignedIn(principal, web.csrf_token, expires_at), due


async def touch(
    session: AsyncSession, token: str, now: datetime, lifetime: SessionLifetime
) -> None:
    """Record a request: the idle expiry slides on (never past the cap)."""
    web = await session.get(WebSession, digest(token))
    if web is not None:
        web.last_seen_at = now
        web.expires_at = _expiry(web.created_at, now, lifetime)
        await session.flush()


async def end_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.digest == digest(token)))


async def end_user_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(WebSession).where(WebSession.user_id == user_id))


__all__ = [
    "OpenedSession",
    "SessionLifetime",
    "SignedIn",
    "end_session",
    "end_user_sessions",
    "open_session",
    "resolve",
    "touch",
]
