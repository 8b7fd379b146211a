"""OAuth 1.0a signed requests (RFC 5849, HMAC-SHA1): LivePerson's "API key" credential.

A key of this kind has a consumer key and secret and a token and token secret. The client signs
each request with both secrets; Parlay rebuilds the signature base string (oauthlib) and
compares. A request is refused when its timestamp is more than ``WINDOW`` away from the server's
clock, and when its nonce was already used by the key within that window (a replay): the
nonces are remembered per key (``OAuthNonce``) until their timestamps leave the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

from oauthlib.common import Request
from oauthlib.oauth1.rfc5849 import signature

# How far a request's oauth_timestamp may be from the server's clock, either way.
WINDOW = timedelta(minutes=5)
SIGNATURE_METHOD = "HMAC-SHA1"
FORM = "application/x-www-form-urlencoded"
MAX_NONCE_LENGTH = 64


@dataclass(frozen=True)
class SignedRequest:
    """What a signature covers: the method, the absolute URI the client called (as it wrote it:
    behind a proxy, the public one), the ``Authorization`` header and a form body, if any."""

    method: str
    uri: str
    authorization: str
    form_body: str | None = None


@dataclass(frozen=True)
class OAuthParams:
    consumer_key: str
    token: str
    nonce: str
    timestamp: int
    signature: str


class OAuthError(ValueError):
    """Why a signed request is refused (said in the 401)."""


def is_oauth(authorization: str) -> bool:
    return authorization[:6].lower() == "oauth "


def params_of(authorization: str) -> OAuthParams:
    """The protocol parameters of an ``Authorization: OAuth ...`` header."""
    try:
        # Unescaped (the header's values are percent-encoded), the signature included.
        given = dict(
            signature.collect_parameters(
                headers={"Authorization": authorization}, exclude_oauth_signature=False
            )
        )
    except (ValueError, IndexError, KeyError, TypeError) as exc:  # untrusted input
        raise OAuthError("malformed OAuth Authorization header") from exc
    if given.get("oauth_signature_method") != SIGNATURE_METHOD:
        raise OAuthError(f"oauth_signature_method must be {SIGNATURE_METHOD}")
    missing = [
        name
        for name in ("oauth_consumer_key", "oauth_token", "oauth_nonce", "oauth_timestamp")
        if not given.get(name)
    ]
    if missing or "oauth_signature" not in given:
        raise OAuthError(f"missing {', '.join(missing) or 'oauth_signature'}")
    timestamp = given["oauth_timestamp"]
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise OAuthError("oauth_timestamp must be seconds since the epoch")
    if len(given["oauth_nonce"]) > MAX_NONCE_LENGTH:
        raise OAuthError(f"oauth_nonce is longer than {MAX_NONCE_LENGTH} characters")
    return OAuthParams(
        consumer_key=given["oauth_consumer_key"],
        token=given["oauth_token"],
        nonce=given["oauth_nonce"],
        timestamp=int(timestamp),
        signature=given["oauth_signature"],
    )


def check_timestamp(params: OAuthParams, now: datetime) -> None:
    offset = abs(now.timestamp() - params.timestamp)
    if offset > WINDOW.total_seconds():
        raise OAuthError(
            f"oauth_timestamp is {int(offset)} s from the server's clock (at most "
            f"{int(WINDOW.total_seconds())} s): check the client's clock"
        )


def nonce_expiry(params: OAuthParams) -> datetime:
    """Until when a nonce is remembered: past it, its timestamp is out of the window anyway."""

    return datetime.fromtimestamp(params.timestamp, UTC) + WINDOW + timedelta(seconds=1)


def signature_matches(
    signed: SignedRequest, params: OAuthParams, consumer_secret: str, token_secret: str
) -> bool:
    """Whether ``oauth_signature`` is the HMAC-SHA1 of the request with these secrets."""
    request = Request(
        signed.uri,
        http_method=signed.method,
        body=signed.form_body,
        headers={"Authorization": signed.authorization},
    )
    request.params = signature.collect_parameters(
        uri_query=urlsplit(signed.uri).query,
        body=signed.form_body,
        headers={"Authorization": signed.authorization},
        exclude_oauth_signature=True,
    )
    request.signature = params.signature
    return bool(signature.verify_hmac_sha1(request, consumer_secret, token_secret))
