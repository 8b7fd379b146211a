"""Does ``PARLAY_SECRET_KEY`` open this database's secrets? Checked at every start.

The table ``secret_key_check`` holds one known text encrypted with the first key of the process
that wrote it (the first start, ``parlay migrate`` or ``parlay secret-key reencrypt``). A process
whose keys cannot open it refuses to start, before it reads a secret or stores one that the other
processes could not read.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from parlay.lib.secretbox import SETTING, SecretBox, UndecryptableSecret
from parlay.lib.secretbox.models import SecretKeyCheck

CHECK_TEXT = "parlay secret key check"
_ID = 1


class KeyState(StrEnum):
    RECORDED = "recorded"  # no check yet: written with the first key now
    CURRENT = "current"  # the first key opens it
    OLDER = "older"  # an older key opens it: secrets may still be under it (reencrypt)


class WrongSecretKey(Exception):
    """None of the configured keys opens the database's key check."""


async def check_key(session: AsyncSession, box: SecretBox, now: datetime) -> KeyState:
    """Whether ``box`` opens the key check (writing it if there is none); ``WrongSecretKey``
    when it does not."""
    row = await session.get(SecretKeyCheck, _ID)
    if row is None:
        try:
            async with session.begin_nested():
                session.add(SecretKeyCheck(id=_ID, token=box.encrypt(CHECK_TEXT), updated_at=now))
        except IntegrityError:  # another process wrote it first: check theirs
            row = await session.get(SecretKeyCheck, _ID)
            if row is None:
                raise
        else:
            return KeyState.RECORDED
    try:
        opened = box.decrypt(row.token)
    except UndecryptableSecret as exc:
        raise WrongSecretKey(
            f"{SETTING} cannot decrypt the secrets stored in this database: none of its "
            f"{box.key_count} key(s) is the one they were encrypted with. Start with the key "
            "this database was used with (during a rotation: the new key first, the old one "
            "after it, comma-separated)."
        ) from exc
    if opened != CHECK_TEXT:
        raise WrongSecretKey("the database's secret key check holds an unexpected value")
    return KeyState.CURRENT if box.opens_with_first_key(row.token) else KeyState.OLDER


async def record_key(session: AsyncSession, box: SecretBox, now: datetime) -> None:
    """Write the key check with the first key (after every secret was encrypted with it)."""
    row = await session.get(SecretKeyCheck, _ID)
    if row is None:
        session.add(SecretKeyCheck(id=_ID, token=box.encrypt(CHECK_TEXT), updated_at=now))
    else:
        row.token, row.updated_at = box.encrypt(CHECK_TEXT), now
    await session.flush()
