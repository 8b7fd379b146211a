"""Account settings: rate limit, default skill, welcome message, consumer JWT auth."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.accounts.models import Account
from parlay.accounts.service import get_account, require_skill
from parlay.lib.errors import invalid_field
from parlay.lib.http.urls import UrlPolicy
from parlay.lib.text import message_text_problem

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
MAX_RATE_LIMIT_PER_SECOND = 10_000


@dataclass(frozen=True)
class AccountSettings:
    rate_limit_per_second: int
    default_skill: str | None
    welcome_enabled: bool
    welcome_text: str | None
    consumer_auth: dict[str, Any] | None


def settings_of(account: Account) -> AccountSettings:
    return AccountSettings(
        rate_limit_per_second=account.rate_limit_per_second,
        default_skill=account.default_skill,
        welcome_enabled=account.welcome_enabled,
        welcome_text=account.welcome_text,
        consumer_auth=account.consumer_auth,
    )


async def check_urls(urls: UrlPolicy, changes: dict[str, Any]) -> None:
    """The settings' URLs (a consumerAuth ``jwksUrl``) against the URL policy, which may resolve
    names: before the unit of work opens."""
    config = changes.get("consumer_auth")
    if isinstance(config, dict) and isinstance(config.get("jwksUrl"), str):
        await urls.check("consumerAuth.jwksUrl", config["jwksUrl"])


def check_consumer_auth(config: dict[str, Any]) -> dict[str, Any]:
    """Validate a consumerAuth document (its ``jwksUrl`` is checked by ``check_urls``); returns
    it normalised (API casing)."""
    field = "consumerAuth"
    for name in ("issuer", "audience"):
        value = config.get(name)
        if not isinstance(value, str) or not value:
            raise invalid_field(f"{field}.{name}", "required")
    algorithms = config.get("algorithms") or []
    bad = [a for a in algorithms if a not in ALLOWED_JWT_ALGORITHMS]
    if not algorithms or bad:
        raise invalid_field(
            f"{field}.algorithms",
            f"one or more asymmetric algorithms of {sorted(ALLOWED_JWT_ALGORITHMS)}"
            + (f"; refused {bad}" if bad else ""),
        )
    jwks_url, pem = config.get("jwksUrl"), config.get("publicKeyPem")
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
    return {
        "issuer": config["issuer"],
        "audience": config["audience"],
        "algorithms": sorted(set(algorithms)),
        **({"jwksUrl": jwks_url} if jwks_url is not None else {}),
        **({"publicKeyPem": pem} if pem is not None else {}),
    }


async def update_settings(
    session: AsyncSession, account_id: str, changes: dict[str, Any]
) -> AccountSettings:
    """Apply the fields given; the ones left out keep their value."""
    account = await get_account(session, account_id)
    if "rate_limit_per_second" in changes:
        rate = changes["rate_limit_per_second"]
        if not 1 <= rate <= MAX_RATE_LIMIT_PER_SECOND:
            raise invalid_field("rateLimitPerSecond", f"1 to {MAX_RATE_LIMIT_PER_SECOND}")
        account.rate_limit_per_second = rate
    if "default_skill" in changes:
        skill = changes["default_skill"]
        if skill is not None:
            await require_skill(session, account_id, skill, "defaultSkill")
        account.default_skill = skill
    if "welcome_message" in changes:
        welcome = changes["welcome_message"]
        enabled, text = bool(welcome["enabled"]), welcome.get("text")
        if enabled and text is None:
            raise invalid_field(
                "welcomeMessage.text", "required when the welcome message is enabled"
            )
        if text is not None and (problem := message_text_problem(text)):
            raise invalid_field("welcomeMessage.text", problem)
        account.welcome_enabled, account.welcome_text = enabled, text
    if "consumer_auth" in changes:
        config = changes["consumer_auth"]
        account.consumer_auth = None if config is None else check_consumer_auth(config)
    await session.flush()
    return settings_of(account)
