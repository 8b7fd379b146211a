"""Tables of the accounts domain: accounts (brands), staff users, skills, API keys, sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parlay.lib.db.base import Base, JSONType


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    # Requests per second of the brand's systems (API keys), per API family, and of each of its
    # consumers (the mobile SDK): ``accounts.settings.RateLimits``.
    rate_limit_c2m: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    rate_limit_proactive: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    rate_limit_reporting: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    rate_limit_consumer: Mapped[int] = mapped_column(Integer, default=10, server_default="10")
    default_skill: Mapped[str | None] = mapped_column(String(255), nullable=True)
    welcome_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    welcome_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    # {issuer, audience, algorithms, jwksUrl | publicKeyPem}; verified by the consumers domain.
    consumer_auth: Mapped[dict[str, Any] | None] = mapped_column(JSONType, nullable=True)
    # IANA zone name: where the account's reports split days.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime]


class Skill(Base):
    __tablename__ = "skills"
    __table_args__ = (UniqueConstraint("account_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("account_id", "username"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(255))
    password_hash: Mapped[str] = mapped_column(String(255))
    roles: Mapped[list[str]] = mapped_column(JSONType)
    type: Mapped[str] = mapped_column(String(16), default="human")
    max_concurrent_conversations: Mapped[int] = mapped_column(Integer, default=3)
    # The agent's routing state: only ONLINE agents are assigned conversations.
    agent_state: Mapped[str] = mapped_column(String(8), default="OFFLINE", server_default="OFFLINE")
    agent_state_at: Mapped[datetime | None] = mapped_column(nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class UserSkill(Base):
    __tablename__ = "user_skills"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    skill_id: Mapped[int] = mapped_column(
        ForeignKey("skills.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class ApiKey(Base):
    """A brand system's credential. Only a SHA-256 digest of the secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # ``bearer`` (the key itself, or a token exchanged for it) or ``oauth1`` (LivePerson's
    # signed requests: ``prefix`` is the consumer key). An OAuth 1.0a signature needs the
    # secrets themselves, not a digest: they are kept sealed (``secretbox``), as provider tokens.
    kind: Mapped[str] = mapped_column(String(16), default="bearer", server_default="bearer")
    oauth_token: Mapped[str | None] = mapped_column(
        String(64), nullable=True, unique=True, index=True
    )
    oauth_secrets: Mapped[str | None] = mapped_column(Text, nullable=True)


class ApiKeyToken(Base):
    """A short-lived bearer token exchanged for an API key (LivePerson's client-credentials
    flow). Only its digest is kept; it dies with its key."""

    __tablename__ = "api_key_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class OAuthNonce(Base):
    """A nonce an OAuth 1.0a key has used, kept while its timestamp is in the window: a request
    replayed within the window names a nonce already here and is refused."""

    __tablename__ = "oauth_nonces"

    api_key_id: Mapped[int] = mapped_column(
        ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True
    )
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AccessToken(Base):
    """A staff login session (bearer token). Only its digest is kept: a leaked DB grants nothing."""

    __tablename__ = "access_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class WebSession(Base):
    """A staff user signed in to the web tool. The cookie carries a random token; only its digest
    is kept. Expires after ``idle`` without a request, and at ``created_at`` + the cap in any case
    (``expires_at`` is the nearer of the two, moved on as requests come)."""

    __tablename__ = "web_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # The roles the user had at sign-in: a change of roles ends the session.
    roles: Mapped[list[str]] = mapped_column(JSONType)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)
