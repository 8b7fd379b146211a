"""PARLAY_SECRET_KEY: Fernet keys, newest first; what cannot be decrypted says so clearly."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from parlay.lib.secretbox import (
    Sealed,
    SecretBox,
    SecretKeyError,
    StoredInClear,
    UndecryptableSecret,
    generate_key,
    key_file,
)

OLD, NEW = generate_key(), generate_key()


def test_a_secret_is_encrypted_and_decrypted() -> None:
    box = SecretBox([NEW])
    token = box.encrypt("-----BEGIN PRIVATE KEY-----\nabc\n")
    assert "PRIVATE KEY" not in token
    assert box.decrypt(token) == "-----BEGIN PRIVATE KEY-----\nabc\n"
    assert box.encrypt("same") != box.encrypt("same")  # a fresh IV each time


def test_the_setting_is_comma_separated_keys_newest_first() -> None:
    old_token = SecretBox([OLD]).encrypt("kept from before")
    box = SecretBox.from_setting(f" {NEW} , {OLD} ")
    assert box.key_count == 2
    assert box.decrypt(old_token) == "kept from before"  # the old key, second, still decrypts
    fresh = box.encrypt("new")
    assert SecretBox([NEW]).decrypt(fresh) == "new"  # encrypted with the first key
    with pytest.raises(UndecryptableSecret):
        SecretBox([OLD]).decrypt(fresh)


def test_rotate_encrypts_again_with_the_first_key() -> None:
    old_token = SecretBox([OLD]).encrypt("s3cret")
    box = SecretBox([NEW, OLD])
    assert not box.opens_with_first_key(old_token)
    rotated = box.rotate(old_token)
    assert box.opens_with_first_key(rotated)
    assert SecretBox([NEW]).decrypt(rotated) == "s3cret"
    assert box.reseal(Sealed(old_token)) != Sealed(old_token)


def test_a_wrong_key_gives_a_clear_error() -> None:
    token = SecretBox([OLD]).encrypt("s3cret")
    with pytest.raises(
        UndecryptableSecret, match="cannot be decrypted with any key of PARLAY_SECRET"
    ):
        SecretBox([NEW]).decrypt(token)
    with pytest.raises(UndecryptableSecret):
        SecretBox([NEW]).rotate(token)


def test_an_altered_token_does_not_open() -> None:
    box = SecretBox([NEW])
    token = box.encrypt("s3cret")
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(UndecryptableSecret):
        box.decrypt(altered)


@pytest.mark.parametrize("value", [None, "", " , "])
def test_a_missing_key_says_how_to_make_one(value: str | None) -> None:
    with pytest.raises(SecretKeyError, match="parlay secret-key generate"):
        SecretBox.from_setting(value)


@pytest.mark.parametrize(
    "value",
    ["not-a-key", f"{NEW},short", "x" * 44],
    # Named, not by the value: NEW is made per process, and every xdist worker must collect the
    # same tests.
    ids=["not-a-key", "a-good-key-then-a-short-one", "44-characters-not-base64"],
)
def test_a_malformed_key_is_refused_and_named(value: str) -> None:
    with pytest.raises(SecretKeyError, match="is not a Fernet key"):
        SecretBox.from_setting(value)


def test_a_generated_key_is_a_fernet_key() -> None:
    Fernet(generate_key())
    assert generate_key() != generate_key()


def test_a_stored_secret_is_an_object_never_a_string() -> None:
    assert Sealed("tok").to_json() == {"enc": "tok"}
    assert Sealed.from_json({"enc": "tok"}, "here") == Sealed("tok")
    with pytest.raises(StoredInClear, match="here is stored in clear"):
        Sealed.from_json("-----BEGIN PRIVATE KEY-----", "here")
    with pytest.raises(ValueError, match="not an encrypted secret"):
        Sealed.from_json({"enc": "tok", "more": 1}, "here")


def test_the_demo_key_file_is_made_once_owner_only_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "parlay.db.secret-key"
    key, made = key_file(path)
    assert made
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again, made_again = key_file(path)
    assert (again, made_again) == (key, False)
    SecretBox([key])


def test_a_damaged_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text("garbage\n")
    with pytest.raises(SecretKeyError):
        key_file(path)
