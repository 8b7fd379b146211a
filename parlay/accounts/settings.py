"""Account settings: rate limits, default skill, welcome message, consumer JWT auth."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.limits import MAX_RATE_LIMIT_PER_SECOND, RateLimits
from parlay.accounts.models import Account
from parlay.accounts.service import get_account, require_skill
from parlay.lib.errors import invalid_field
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.text import message_text_problem
from parlay.lib.unset import UNSET, Unset

_KEY_TYPES: dict[str, type | tuple[type, ...]] = {
    "RS": rsa.RSAPublicKey,
    "PS": rsa.RSAPublicKey,
    "ES": ec.EllipticCurvePublicKey,
    "Ed": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
}

# Asymmetric only: HMAC with a public key and "none" are classic JWT forgeries.
ALLOWED_JWT_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
# A consumer JWT may live this long at most (exp - iat), unless the account says otherwise.
DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 3600
MAX_TOKEN_LIFETIME_SECONDS = 30 * 24 * 3600


@dataclass(frozen=True)
class ConsumerAuth:
    """How the account's consumer JWTs are verified."""

    issuer: str
    audience: str
    algorithms: tuple[str, ...]
    jwks_url: str | None = None
    public_key_pem: str | None = None
    max_token_lifetime_seconds: int = DEFAULT_MAX_TOKEN_LIFETIME_SECONDS

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConsumerAuth:
        return cls(
            issuer=str(data["issuer"]),
            audience=str(data["audience"]),
            algorithms=tuple(data.get("algorithms") or ()),
            jwks_url=data.get("jwksUrl"),
            public_key_pem=data.get("publicKeyPem"),
            max_token_lifetime_seconds=int(
                data.get("maxTokenLifetimeSeconds", DEFAULT_MAX_TOKEN_LIFETIME_SECONDS)
            ),
        )

    def to_json(self) -> dict[str, Any]:
        """As stored on the account and shown by the API (API casing)."""
        return {
            "issuer": self.issuer,
            "audience": self.audience,
            "algorithms": list(self.algorithms),
            **({"jwksUrl": self.jwks_url} if self.jwks_url is not None else {}),
            **({"publicKeyPem": self.public_key_pem} if self.public_key_pem is not None else {}),
            "maxTokenLifetimeSeconds": self.max_token_lifetime_seconds,
        }


@dataclass(frozen=True)
class AccountSettings:
    rate_limits: RateLimits
    default_skill: str | None
    welcome_enabled: bool
    welcome_text: str | None
    consumer_auth: ConsumerAuth | None
    time_zone: str = "UTC"


def settings_of(account: Account) -> AccountSettings:
    return AccountSettings(
        rate_limits=RateLimits.of(account),
        default_skill=account.default_skill,
        welcome_enabled=account.welcome_enabled,
        welcome_text=account.welcome_text,
        consumer_auth=consumer_auth_of(account),
        time_zone=account.time_zone,
    )


def consumer_auth_of(account: Account) -> ConsumerAuth | None:
    return ConsumerAuth.from_json(account.consumer_auth) if account.consumer_auth else None


@dataclass(frozen=True)
class RateLimitsChange:
    """Rate limits to change; None keeps a family's limit."""

    c2m: int | None = None
    proactive: int | None = None
    reporting: int | None = None
    consumer: int | None = None


@dataclass(frozen=True)
class WelcomeMessage:
    enabled: bool
    text: str | None


@dataclass(frozen=True)
class SettingsChange:
    """What to change; ``UNSET`` keeps a setting, None clears an optional one."""

    rate_limits: RateLimitsChange | Unset = UNSET
    default_skill: str | Unset | None = UNSET
    welcome_message: WelcomeMessage | Unset = UNSET
    consumer_auth: ConsumerAuth | Unset | None = UNSET
    time_zone: str | Unset = UNSET


def check_time_zone(name: str) -> str:
    """An IANA time zone name (``Europe/Paris``, ``UTC``): where reports split days."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise invalid_field("timeZone", "an IANA time zone name, e.g. Europe/Paris") from exc
    return name


def check_rate_limits(current: RateLimits, change: RateLimitsChange) -> RateLimits:
    limits = current
    for family in ("c2m", "proactive", "reporting", "consumer"):
        value = getattr(change, family)
        if value is None:
            continue
        if not 1 <= value <= MAX_RATE_LIMIT_PER_SECOND:
            raise invalid_field(f"rateLimits.{family}", f"1 to {MAX_RATE_LIMIT_PER_SECOND}")
        limits = replace(limits, **{family: value})
    return limits


async def check_urls(urls: UrlPolicy, change: SettingsChange) -> None:
    """The settings' URLs (a consumerAuth ``jwksUrl``) against the URL policy, which may resolve
    names: before the unit of work opens."""
    config = change.consumer_auth
    if isinstance(config, ConsumerAuth) and config.jwks_url is not None:
        await urls.check("consumerAuth.jwksUrl", config.jwks_url)


def check_consumer_auth(config: ConsumerAuth) -> ConsumerAuth:
    """Validate how consumer JWTs are to be verified (its ``jwksUrl`` is checked by
    ``check_urls``); returns it normalised."""
    field = "consumerAuth"
    for name in ("issuer", "audience"):
        if not getattr(config, name):
            raise invalid_field(f"{field}.{name}", "required")
    algorithms = config.algorithms
    bad = [a for a in algorithms if a not in ALLOWED_JWT_ALGORITHMS]
    if not algorithms or bad:
        raise invalid_field(
            f"{field}.algorithms",
            f"one or more asymmetric algorithms of {sorted(ALLOWED_JWT_ALGORITHMS)}"
            + (f"; refused {bad}" if bad else ""),
        )
    jwks_url, pem = config.jwks_url, config.public_key_pem
    if (jwks_url is None) == (pem is None):
        raise invalid_field(field, "give exactly one of jwksUrl or publicKeyPem")
    if pem is not None:
        try:
            key = load_pem_public_key(pem.encode())
        except (ValueError, TypeError) as exc:
            raise invalid_field(f"{field}.publicKeyPem", "not a PEM public key") from exc
        # A key no listed algorithm can use would silently refuse every consumer's token.
        usable = {a for a in algorithms if isinstance(key, _KEY_TYPES[a[:2]])}
        if not usable:
            raise invalid_field(
                f"{field}.publicKeyPem",
                f"this {type(key).__name__.removeprefix('_')} cannot verify {sorted(algorithms)}",
            )
    lifetime = config.max_token_lifetime_seconds
    if not 60 <= lifetime <= MAX_TOKEN_LIFETIME_SECONDS:
        raise invalid_field(
            f"{field}.maxTokenLifetimeSeconds", f"60 to {MAX_TOKEN_LIFETIME_SECONDS} seconds"
        )
    return replace(config, algorithms=tuple(sorted(set(algorithms))))


async def update_settings(
    session: AsyncSession, account_id: str, change: SettingsChange
) -> AccountSettings:
    """Apply the fields given; the ones left out keep their value."""
    account = await get_account(session, account_id)
    if not isinstance(change.rate_limits, Unset):
        check_rate_limits(RateLimits.of(account), change.rate_limits).store(account)
    if not isinstance(change.default_skill, Unset):
        skill = change.default_skill
        if skill is not None:
            await require_skill(session, account_id, skill, "defaultSkill")
        account.default_skill = skill
    if not isinstance(change.welcome_message, Unset):
        enabled, text = change.welcome_message.enabled, change.welcome_message.text
        if enabled and text is None:
            raise invalid_field(
                "welcomeMessage.text", "required when the welcome message is enabled"
            )
        if text is not None and (problem := message_text_problem(text)):
            raise invalid_field("welcomeMessage.text", problem)
        account.welcome_enabled, account.welcome_text = enabled, text
    if not isinstance(change.time_zone, Unset):
        account.time_zone = check_time_zone(change.time_zone)
    if not isinstance(change.consumer_auth, Unset):
        config = change.consumer_auth
        account.consumer_auth = None if config is None else check_consumer_auth(config).to_json()
    await session.flush()
    return settings_of(account)
