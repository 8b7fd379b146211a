"""The shape of the house, as rules: packages import downward, one module writes a delivery's
status, the faces open no transaction, and the repository explains itself.

Read from the source with ``ast`` (nothing is imported), so a rule broken anywhere fails here
with the file and the name that break it.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "parlay"

# Bottom to top: a part may import only the parts below it (and itself).
LAYERS = [
    "lib",
    "client",
    "config",
    "accounts",
    "handoffs",
    "seed",
    "webhooks",
    "delivery",
    "channels",
    "campaigns",
    "apps",
    "consumers",
    "conversations",
    "messaging",
    "eligibility",
    "c2m",
    "dispatch",
    "reporting",
    "services",
    "api",
    "web",
    "migrations",
    "bootstrap",
    "app",
    "runtime",
    "console",
    "cli",
]
# The product's domains: framework-free (no FastAPI, no Starlette).
DOMAINS = {
    "accounts",
    "handoffs",
    "webhooks",
    "delivery",
    "channels",
    "campaigns",
    "apps",
    "consumers",
    "conversations",
    "messaging",
    "eligibility",
    "c2m",
    "dispatch",
    "reporting",
}


def _modules() -> Iterator[tuple[Path, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if "versions" in path.parts:
            continue  # migration history
        yield path, path.relative_to(PACKAGE).parts[0].removesuffix(".py")


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # "from parlay import bootstrap"
                yield node.lineno, f"{node.module}.{alias.name}"


def _part(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "parlay" and len(parts) > 1 else None


def test_every_part_of_the_package_has_its_place_in_the_layers() -> None:
    assert {part for _, part in _modules() if part != "__init__"} <= set(LAYERS)


def test_packages_import_only_downward() -> None:
    rank = {part: i for i, part in enumerate(LAYERS)}
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path, part in _modules()
        if part in rank
        for line, module in _imports(path)
        if (target := _part(module)) in rank and rank[target] > rank[part]
    ]
    assert not upward, "\n".join(upward)


def test_the_domains_import_no_web_framework() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path, part in _modules()
        if part in DOMAINS
        for line, module in _imports(path)
        if module.split(".")[0] in ("fastapi", "starlette")
    ]
    assert not found, "\n".join(found)


def test_nothing_but_the_entry_points_imports_the_composition_root() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{line}"
        for path, part in _modules()
        if part not in ("runtime", "cli", "bootstrap")
        for line, module in _imports(path)
        if module == "parlay.bootstrap" or module.startswith("parlay.bootstrap.")
    ]
    assert not found, "\n".join(found)


_STATUS_WRITES = re.compile(r"update\(Delivery\)|insert\(Delivery\)|UPDATE deliveries|DELIVERIES")


def test_only_the_lifecycle_writes_a_delivery() -> None:
    """Every change of a delivery's status goes through ``parlay/delivery/lifecycle.py``; the
    queue writes leases only."""
    writers = {
        str(path.relative_to(ROOT))
        for path, _ in _modules()
        if _STATUS_WRITES.search(path.read_text())
    }
    assert writers == {"parlay/delivery/lifecycle.py", "parlay/delivery/queue.py"}
    claims = (PACKAGE / "delivery" / "queue.py").read_text()
    assert "status=" not in claims
    assert "STAGE_TIME" not in claims


def test_the_faces_open_no_transaction_and_run_no_sql() -> None:
    """Routers only parse, call a use case and map its result."""
    found = []
    # The web tool speaks of its sign-in "sessions": there a database session shows as its type.
    faces = {"api": r"\bsession\b", "web": r"\bAsyncSession\b"}
    for face, session in faces.items():
        found += _sql_in_face(PACKAGE / face, session)
    assert not found, "\n".join(found)


def _sql_in_face(folder: Path, session: str) -> list[str]:
    found = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text()
        for pattern in (r"\.write\(", r"\.read\(", session, r"\bsqlalchemy\b"):
            if re.search(pattern, text):
                found.append(f"{path.relative_to(ROOT)}: {pattern}")
    return found


_OUTSIDE = re.compile(r"SPEC\b|\.\./shared|research/|STYLE\.md")


@pytest.mark.parametrize("folder", ["parlay", "tests", "bench", "docs"])
def test_the_repository_cites_no_document_outside_it(folder: str) -> None:
    this = Path(__file__).resolve()
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / folder).rglob("*"))
        if path.suffix in (".py", ".md", ".mako") and path.resolve() != this
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _OUTSIDE.search(line)
    ]
    found += [
        f"README.md:{n}"
        for n, line in enumerate((ROOT / "README.md").read_text().splitlines(), 1)
        if folder == "docs" and _OUTSIDE.search(line)
    ]
    assert not found, "\n".join(found[:40])
