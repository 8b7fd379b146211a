"""The API reference pages work offline: every script, style and icon they load comes from
Parlay itself, unchanged from the upstream packages the manifest names."""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from parlay.api.docs_ui import STATIC_DIR

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
# src="...", href="...", url: '...', url(...) in the HTML and its inline script.
REFERENCE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*[:(]\s*["']?([^"')\s]+)""")
TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "json"}


def _manifest() -> dict[str, str]:
    lines = (STATIC_DIR / "SHA256SUMS").read_text().splitlines()
    return {
        name: digest
        for digest, name in (line.split(maxsplit=1) for line in lines if not line.startswith("#"))
    }


def _vendored() -> set[str]:
    return {
        path.relative_to(STATIC_DIR).as_posix()
        for path in STATIC_DIR.rglob("*")
        if path.is_file() and path.name != "SHA256SUMS"
    }


def test_vendored_assets_are_exactly_the_manifest_files_with_its_checksums() -> None:
    manifest = _manifest()
    assert set(manifest) == _vendored()
    for name, digest in manifest.items():
        assert hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest() == digest, name


def test_an_installed_package_carries_every_vendored_asset() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["parlay"]
    package = STATIC_DIR.parent.parent
    carried = {path for pattern in patterns for path in package.glob(pattern)}
    for name in (*_vendored(), "SHA256SUMS"):
        assert STATIC_DIR / name in carried, name


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://parlay.test") as c:
        yield c


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_reference_page_loads_only_assets_parlay_serves(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    references = {a or b for a, b in REFERENCE.findall(response.text)}
    assert references, "the page references no asset: the pattern no longer matches it"
    for reference in references:
        parts = urlsplit(reference)
        assert (parts.scheme, parts.netloc) == ("", ""), f"{page} loads {reference} from elsewhere"
        asset = await client.get(reference)
        assert asset.status_code == 200, reference
        expected = TYPES[Path(parts.path).suffix or ".json"]
        assert expected in asset.headers["content-type"], reference
        if parts.path.startswith("/docs/assets/"):
            assert asset.headers["cache-control"] == "public, max-age=86400", reference
