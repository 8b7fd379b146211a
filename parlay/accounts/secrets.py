"""Password hashing (Argon2id) and opaque bearer credentials stored only as digests."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading

from pwdlib import PasswordHash

_hasher = PasswordHash.recommended()
# Argon2id takes a core for ~0.2 s. At most this many hash at once (in worker threads), so a
# flood of logins queues instead of taking every core from the rest of the API.
_HASHING = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))
_dummies: dict[int, str] = {}


def _dummy_hash() -> str:
    """Verifying against this keeps an unknown username as slow as a wrong password (made with
    the hasher in use, so it costs what a real user's hash costs)."""
    key = id(_hasher)
    if key not in _dummies:
        _dummies[key] = _hasher.hash(secrets.token_urlsafe(16))
    return _dummies[key]


API_KEY_PREFIX = "plk_"
ACCESS_TOKEN_PREFIX = "plt_"
# A short-lived token exchanged for an API key (the client-credentials flow).
KEY_TOKEN_PREFIX = "pla_"


def hash_password(password: str) -> str:
    with _HASHING:
        return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Constant-ish time whether the user exists or not."""
    with _HASHING:
        if password_hash is None:
            _hasher.verify(password, _dummy_hash())
            return False
        return _hasher.verify(password, password_hash)


def digest(secret: str) -> str:
    """SHA-256 hex digest. High-entropy secrets need no slow hash."""
    return hashlib.sha256(secret.encode()).hexdigest()


def digests_match(secret: str, expected_digest: str) -> bool:
    return hmac.compare_digest(digest(secret), expected_digest)


def new_api_key() -> tuple[str, str, str]:
    """A fresh API key: (full key shown once, lookup prefix, digest)."""
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = f"{API_KEY_PREFIX}{prefix}_{secret}"
    return key, prefix, digest(key)


def api_key_prefix(key: str) -> str | None:
    """The lookup prefix of a well-formed API key, else None."""
    if not key.startswith(API_KEY_PREFIX):
        return None
    body = key[len(API_KEY_PREFIX) :]
    prefix, sep, secret = body.partition("_")
    if not sep or len(prefix) != 12 or not secret:
        return None
    return prefix


def new_access_token() -> tuple[str, str]:
    """A fresh login token: (token, digest)."""
    token = f"{ACCESS_TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    return token, digest(token)


def new_key_token() -> tuple[str, str]:
    """A fresh token exchanged for an API key: (token, digest)."""
    token = f"{KEY_TOKEN_PREFIX}{secrets.token_urlsafe(32)}"
    return token, digest(token)


def new_oauth_secret() -> str:
    return secrets.token_urlsafe(24)
