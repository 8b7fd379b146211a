"""Path parameters shared by every account-scoped route."""

from typing import Annotated

from fastapi import Header, Path

AccountIdPath = Annotated[
    str, Path(description="The brand's account ID.", min_length=1, max_length=64)
]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Repeat-safe creation: a repeat with the same key and body returns the "
        "first response and does nothing again; the same key with another body is refused (409).",
    ),
]
