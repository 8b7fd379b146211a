"""Secrets at rest: what Parlay stores of a brand's credentials is encrypted with
``PARLAY_SECRET_KEY``.

The setting holds one or more Fernet keys (32 random bytes, URL-safe base64), comma-separated,
newest first: values are encrypted with the first and decrypted with whichever opens them, so a
key can rotate without a stop (docs/operations.md#secrets-at-rest). Fernet is AES-128-CBC with an
HMAC-SHA256 over the whole token: a token changed or made with another key does not open.

A stored secret is a JSON object ``{"enc": "<Fernet token>"}`` (``Sealed``), so a value in clear
(a string) can never pass for an encrypted one.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

__all__ = [
    "Sealed",
    "SecretBox",
    "SecretKeyError",
    "StoredInClear",
    "UndecryptableSecret",
    "generate_key",
    "key_file",
]

SETTING = "PARLAY_SECRET_KEY"
GENERATE = "parlay secret-key generate"


class SecretKeyError(ValueError):
    """``PARLAY_SECRET_KEY`` is missing or is not a list of Fernet keys."""


class UndecryptableSecret(Exception):
    """A stored secret that none of the configured keys opens (another key, or altered)."""


class StoredInClear(Exception):
    """A secret stored as plain text where an encrypted one belongs."""


@dataclass(frozen=True)
class Sealed:
    """An encrypted secret as stored: its Fernet token."""

    token: str

    def to_json(self) -> dict[str, str]:
        return {"enc": self.token}

    @classmethod
    def from_json(cls, value: object, where: str) -> Sealed:
        """The sealed secret stored at ``where``; ``StoredInClear`` for a plain string."""
        if isinstance(value, dict) and isinstance(value.get("enc"), str) and len(value) == 1:
            return cls(value["enc"])
        if isinstance(value, str):
            raise StoredInClear(
                f"{where} is stored in clear: run `parlay migrate` with {SETTING} set"
            )
        raise ValueError(f"{where}: not an encrypted secret ({{'enc': ...}})")


class SecretBox:
    """Encrypts with the first key, decrypts with any of them."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SecretKeyError(f"{SETTING} holds no key (generate one: {GENERATE})")
        fernets = []
        for number, key in enumerate(keys, 1):
            try:
                fernets.append(Fernet(key))
            except (ValueError, TypeError) as exc:
                raise SecretKeyError(
                    f"{SETTING}: key {number} of {len(keys)} is not a Fernet key (32 random bytes "
                    f"in URL-safe base64, 44 characters; generate one: {GENERATE})"
                ) from exc
        self._primary = fernets[0]
        self._all = MultiFernet(fernets)
        self.key_count = len(fernets)

    @classmethod
    def from_setting(cls, value: str | None) -> SecretBox:
        """The box of ``PARLAY_SECRET_KEY`` (comma-separated keys, newest first)."""
        if value is None or not value.strip():
            raise SecretKeyError(
                f"{SETTING} is not set: Parlay encrypts the push credentials it stores with it. "
                f"Generate a key with `{GENERATE}` and keep it with the database's backups "
                "(without it the stored credentials cannot be read)."
            )
        return cls([key.strip() for key in value.split(",") if key.strip()])

    def encrypt(self, plaintext: str) -> str:
        return self._primary.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._all.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise UndecryptableSecret(
                f"a stored secret cannot be decrypted with any key of {SETTING} "
                f"({self.key_count} configured): it was encrypted with another key, or altered"
            ) from exc

    def rotate(self, token: str) -> str:
        """The same secret encrypted with the first key."""
        try:
            return self._all.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise UndecryptableSecret(
                f"a stored secret cannot be decrypted with any key of {SETTING}"
            ) from exc

    def opens_with_first_key(self, token: str) -> bool:
        try:
            self._primary.decrypt(token.encode())
        except InvalidToken:
            return False
        return True

    def seal(self, plaintext: str) -> Sealed:
        return Sealed(self.encrypt(plaintext))

    def open(self, sealed: Sealed) -> str:
        return self.decrypt(sealed.token)

    def reseal(self, sealed: Sealed) -> Sealed:
        return Sealed(self.rotate(sealed.token))


def generate_key() -> str:
    """A new Fernet key (32 random bytes from the OS, URL-safe base64)."""
    return Fernet.generate_key().decode()


def key_file(path: Path) -> tuple[str, bool]:
    """The key kept in ``path``, made there on first use (readable by its owner only: 0600).
    Returns the key and whether it was just made. For the demo: production sets the key."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        SecretBox([key])  # a clear error if the file was damaged
        return key, False
    key = generate_key()
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key, True
