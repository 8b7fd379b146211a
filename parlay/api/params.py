"""Path parameters shared by every account-scoped route."""

from typing import Annotated

from fastapi import Header, Path

# The largest ID a database row can have (a signed 64-bit integer): larger ones are a clear 400,
# not a driver error (500).
MAX_ROW_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ROW_ID, description="A numeric ID.")]

# Names and opaque IDs in paths: bounded like the fields they name.
AppIdPath = Annotated[
    str, Path(min_length=1, max_length=255, description="The app's bundle or package ID.")
]
# Handoff, campaign, call, conversation and push-message IDs Parlay made (H + digits, UUID text).
HandoffIdPath = Annotated[
    str, Path(min_length=1, max_length=64, description="The handoff's ID ('H' and digits).")
]
CampaignIdPath = Annotated[
    str, Path(min_length=1, max_length=64, description="The campaign's proactiveCampaignId.")
]
CallIdPath = Annotated[
    str, Path(min_length=1, max_length=64, description="The callId the eligibility check gave.")
]
PushMessageIdPath = Annotated[
    str, Path(min_length=1, max_length=64, description="The pushMessageId of the push payload.")
]
ConversationIdPath = Annotated[
    str, Path(min_length=1, max_length=64, description="The conversation's ID.")
]

AccountIdPath = Annotated[
    str, Path(description="The brand's account ID.", min_length=1, max_length=64)
]

IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        description="Repeat-safe creation: a repeat with the same key and body returns the "
        "first response and does nothing again; the same key with another body is refused (409).",
    ),
]

PreferHeader = Annotated[
    str | None,
    Header(
        alias="Prefer",
        max_length=255,
        description="``return=minimal`` (RFC 7240): answer with counts, without the list of "
        "accepted consumers (for campaigns of many thousands).",
    ),
]
