"""The vendored front-end files are the ones the manifest names, byte for byte."""

from __future__ import annotations

import hashlib
from pathlib import Path

from parlay.web import nav

VENDOR = Path(nav.__file__).resolve().parent / "static" / "vendor"


def test_the_vendored_files_match_their_checksums() -> None:
    manifest = (VENDOR / "SHA256SUMS").read_text().splitlines()
    listed = {}
    for line in manifest:
        checksum, name = line.split(maxsplit=1)
        listed[name.lstrip("*")] = checksum
    on_disk = {p.name for p in VENDOR.iterdir() if p.name != "SHA256SUMS"}
    assert set(listed) == on_disk
    for name, checksum in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == checksum, name
