"""secrets at rest: the apps' push credentials encrypted with PARLAY_SECRET_KEY; the key check

Every secret of ``apps.credentials`` (APNs ``privateKeyPem``, FCM ``serviceAccountJson``, the
proxy ``secret``, ``basicAuth`` password and header values) becomes ``{"enc": "<Fernet token>"}``;
an FCM app also keeps ``projectId``, ``clientEmail`` and ``tokenUri`` beside its encrypted file.
``secret_key_check`` holds one known text encrypted with the key (``parlay.lib.secretbox.check``).

Without PARLAY_SECRET_KEY the upgrade refuses to run when any app is stored (it never leaves a
secret in clear), and the downgrade, which decrypts, refuses likewise. The transformation is
written out here rather than imported, so that later changes of the apps code cannot change
what this revision does.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 09:00:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

from parlay.lib.db.base import JSONType, UTCDateTime
from parlay.lib.secretbox import SecretBox
from parlay.migrations import MigrationRefused

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHECK_TEXT = "parlay secret key check"  # parlay.lib.secretbox.check.CHECK_TEXT
NO_KEY = (
    "PARLAY_SECRET_KEY is not set, and {count} app(s) hold push credentials that revision 0006 "
    "{does}. Nothing was changed. Generate a key with `parlay secret-key generate`, set "
    "PARLAY_SECRET_KEY to it (keep it with the database's backups: the credentials cannot be read "
    "without it) and run `parlay {command}` again."
)

_apps = sa.table(
    "apps",
    sa.column("id", sa.Integer),
    sa.column("credentials", JSONType),
)


def _box() -> SecretBox | None:
    box = context.config.attributes.get("secret_box")
    return box if isinstance(box, SecretBox) else None


def _seal(value: Any, box: SecretBox) -> Any:
    return {"enc": box.encrypt(value)} if isinstance(value, str) else value


def _open(value: Any, box: SecretBox) -> Any:
    return box.decrypt(value["enc"]) if isinstance(value, dict) and "enc" in value else value


def _secrets(doc: dict[str, Any]) -> list[Any]:
    service = doc.get("service")
    if service == "apns":
        return [doc.get("privateKeyPem")]
    if service == "fcm":
        return [doc.get("serviceAccountJson")]
    basic = doc.get("basicAuth") or {}
    return [doc.get("secret"), basic.get("password"), *(doc.get("headers") or {}).values()]


def _sealed(doc: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    doc = dict(doc)
    service = doc.get("service")
    if service == "apns":
        doc["privateKeyPem"] = _seal(doc["privateKeyPem"], box)
    elif service == "fcm":
        raw = doc["serviceAccountJson"]
        if isinstance(raw, str):
            account = json.loads(raw)
            doc["projectId"] = account["project_id"]
            doc["clientEmail"] = account["client_email"]
            doc["tokenUri"] = account["token_uri"]
            doc["serviceAccountJson"] = _seal(raw, box)
    elif service == "proxy":
        doc["secret"] = _seal(doc["secret"], box)
        basic = doc.get("basicAuth")
        doc["basicAuth"] = (
            None if not basic else {**basic, "password": _seal(basic["password"], box)}
        )
        doc["headers"] = {k: _seal(v, box) for k, v in (doc.get("headers") or {}).items()}
    return doc


def _opened(doc: dict[str, Any], box: SecretBox) -> dict[str, Any]:
    doc = dict(doc)
    service = doc.get("service")
    if service == "apns":
        doc["privateKeyPem"] = _open(doc["privateKeyPem"], box)
    elif service == "fcm":
        doc["serviceAccountJson"] = _open(doc["serviceAccountJson"], box)
        for name in ("projectId", "clientEmail", "tokenUri"):
            doc.pop(name, None)
    elif service == "proxy":
        doc["secret"] = _open(doc["secret"], box)
        basic = doc.get("basicAuth")
        if basic:
            doc["basicAuth"] = {**basic, "password": _open(basic["password"], box)}
        doc["headers"] = {k: _open(v, box) for k, v in (doc.get("headers") or {}).items()}
    return doc


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_apps.c.id, _apps.c.credentials).order_by(_apps.c.id)).all()
    in_clear = [(i, doc) for i, doc in rows if any(isinstance(s, str) for s in _secrets(doc))]
    box = _box()
    if in_clear and box is None:
        raise MigrationRefused(
            NO_KEY.format(count=len(in_clear), does="encrypts", command="migrate")
        )
    op.create_table(
        "secret_key_check",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("token", sa.Text(), nullable=False),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_key_check")),
    )
    if box is None:
        return  # no app yet: the first start writes the key check
    for app_id, doc in in_clear:
        bind.execute(
            sa.update(_apps).where(_apps.c.id == app_id).values(credentials=_sealed(doc, box))
        )
    check = sa.table(
        "secret_key_check",
        sa.column("id", sa.Integer),
        sa.column("token", sa.Text),
        sa.column("updated_at", UTCDateTime(timezone=True)),
    )
    bind.execute(
        sa.insert(check).values(id=1, token=box.encrypt(CHECK_TEXT), updated_at=datetime.now(UTC))
    )


def downgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.select(_apps.c.id, _apps.c.credentials).order_by(_apps.c.id)).all()
    sealed = [(i, doc) for i, doc in rows if any(isinstance(s, dict) for s in _secrets(doc))]
    box = _box()
    if sealed and box is None:
        raise MigrationRefused(
            NO_KEY.format(count=len(sealed), does="decrypts", command="downgrade 0005")
        )
    for app_id, doc in sealed:
        assert box is not None
        bind.execute(
            sa.update(_apps).where(_apps.c.id == app_id).values(credentials=_opened(doc, box))
        )
    op.drop_table("secret_key_check")
