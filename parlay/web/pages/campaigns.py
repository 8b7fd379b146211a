"""Campaigns: the list with live counts; a new campaign from a CSV file or a pasted list, every
row checked before sending; a campaign's page with live counts, its recipients, cancel,
retry-failed and the CSV export.

The rules are the JSON API's: the file is read with the API's consumer schema and the campaign
intake against the chosen handoff (``parlay.api.recipients_file``), the request with the API's
``CampaignIn`` schema, and sending is the API's create use case with an idempotency key.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import RedirectResponse, Response

from parlay.accounts import usecases as accounts
from parlay.accounts.permissions import Permission
from parlay.api.params import CampaignIdPath
from parlay.api.recipients_file import BadRow, FileRefused, RecipientsFile, read
from parlay.api.schemas.outbound import MAX_CONSUMERS, CampaignIn
from parlay.campaigns import usecases
from parlay.campaigns.models import ACTIVE
from parlay.campaigns.service import Accepted, CampaignRequest
from parlay.delivery.status import PENDING, PROGRESS, DeliveryStatus
from parlay.handoffs import usecases as handoffs
from parlay.handoffs.snapshot import HandoffSnapshot
from parlay.lib.errors import Conflict, IdempotencyKeyReused, ParlayError
from parlay.lib.idempotency.service import Repeat
from parlay.reporting import usecases as reporting
from parlay.reporting.views import CONSUMER_FIELDS, consumer_values
from parlay.web.auth import Viewer, page, services_of
from parlay.web.exports import csv_response
from parlay.web.security import WEB_ROOT
from parlay.web.templating import render

router = APIRouter()

LIST_PAGE = 25
RECIPIENTS_PAGE = 50
# Row problems listed on the check: enough to fix a file, bounded so a file of 100,000 bad rows
# does not make a page of 100,000 rows (the count says how many there are).
SHOWN_PROBLEMS = 500
# The form's fields, by the CampaignIn field their value becomes.
_FORM_FIELDS = {
    "campaignName": "name",
    "skill": "skill",
    "templateId": "handoff",
    "message": "message",
    "consumers": "recipients",
}
_SENT = [s.value for s in PROGRESS if s not in PENDING]


@dataclass(frozen=True)
class Tally:
    """A campaign's recipients in the four groups the list shows."""

    waiting: int
    sent: int
    failed: int
    not_sent: int  # skipped, expired, cancelled

    @classmethod
    def of(cls, counts: Mapping[str, int]) -> Tally:
        failed = counts.get(DeliveryStatus.FAILED, 0)
        waiting = sum(counts.get(s, 0) for s in PENDING)
        sent = sum(counts.get(s, 0) for s in _SENT)
        return cls(waiting, sent, failed, sum(counts.values()) - waiting - sent - failed)


@dataclass
class Draft:
    """The new-campaign form as sent, and what checking it found."""

    name: str = ""
    handoff: str = ""
    skill: str = ""
    message: str = ""
    upload_id: str = ""
    errors: dict[str, str] = field(default_factory=dict)
    checked: RecipientsFile | None = None

    @property
    def values(self) -> dict[str, str]:
        return {"name": self.name, "handoff": self.handoff, "skill": self.skill}

    @property
    def shown_problems(self) -> Sequence[BadRow]:
        return self.checked.bad[:SHOWN_PROBLEMS] if self.checked else []


# --- the list -----------------------------------------------------------------------------------


async def _overview(request: Request, viewer: Viewer, cursor: str | None) -> dict[str, Any]:
    overview = await usecases.campaign_overview(
        services_of(request).tx, viewer.principal.account_id, cursor=cursor, limit=LIST_PAGE
    )
    rows = [(state.campaign, Tally.of(state.counts)) for state in overview.campaigns]
    return {
        "rows": rows,
        "cursor": cursor,
        "next_cursor": overview.next_cursor,
        "live": any(c.status in ACTIVE for c, _ in rows),
        "can_write": viewer.can(Permission.CAMPAIGNS_WRITE),
    }


@router.get("/campaigns", name="web_campaigns")
async def campaigns(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_READ)],
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    context = await _overview(request, viewer, cursor)
    return render(request, "campaigns/list.html", context)


@router.get("/campaigns/rows", name="web_campaign_rows")
async def campaign_rows(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_READ)],
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The list's table body alone: what the list polls while a campaign on it is sending."""
    context = await _overview(request, viewer, cursor)
    return render(request, "campaigns/_rows.html", context)


# --- a new campaign -----------------------------------------------------------------------------


async def _new_page(request: Request, viewer: Viewer, draft: Draft, status: int = 200) -> Response:
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    context = {
        "draft": draft,
        "handoffs": await handoffs.list_handoffs(tx, account_id),
        "skills": await accounts.list_skills(tx, account_id),
        "max_rows": MAX_CONSUMERS,
    }
    return render(request, "campaigns/new.html", context, status=status)


def _preview(request: Request, draft: Draft, status: int) -> Response:
    return render(request, "campaigns/_preview.html", {"draft": draft}, status=status)


@router.get("/campaigns/new", name="web_new_campaign")
async def new_campaign(
    request: Request, viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_WRITE)]
) -> Response:
    # A new form, a new key: sending this form twice sends once; a new form sends anew.
    return await _new_page(request, viewer, Draft(upload_id=uuid.uuid4().hex))


FormText = Annotated[str, Form(max_length=100_000)]


async def _recipients_data(file: UploadFile | None, pasted: str, draft: Draft) -> bytes | None:
    data = await run_in_threadpool(_upload_bytes, file) if file and file.filename else b""
    if data and pasted.strip():
        draft.errors["recipients"] = "Upload a file or paste a list, not both."
        return None
    data = data or pasted.strip().encode()
    if not data:
        draft.errors["recipients"] = "Upload a CSV file or paste the recipients."
        return None
    return data


def _upload_bytes(file: UploadFile) -> bytes:
    """The uploaded file whole (spooled to disk past 1 MiB: read off the event loop)."""
    file.file.seek(0)
    return b"".join(file.file)


def _request_body(draft: Draft, consumers: Sequence[Any]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "campaignName": draft.name,
        "skill": draft.skill,
        "templateId": draft.handoff,
        "consent": True,
        "consumers": consumers,
    }
    if draft.message:
        body["message"] = {"text": draft.message}
    return body


async def _check(
    request: Request, viewer: Viewer, draft: Draft, data: bytes | None
) -> CampaignIn | None:
    """Check the form as the API would take it: the fields by ``CampaignIn``, each row by the
    consumer schema and the intake against the handoff. ``draft`` collects what is wrong."""
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    snapshot = None
    if draft.handoff:
        try:
            handoff = await handoffs.get_handoff(tx, account_id, draft.handoff)
        except ParlayError as exc:
            draft.errors["handoff"] = exc.detail
        else:
            snapshot = HandoffSnapshot.of(handoff)
    if data is not None and snapshot is not None:
        try:
            # Up to 100,000 rows: half a second of work, kept off the event loop.
            draft.checked = await run_in_threadpool(
                read, data, snapshot, skill=draft.skill, message=draft.message or None
            )
        except FileRefused as exc:
            draft.errors["recipients"] = f"The file cannot be read: {exc}."
    consumers = draft.checked.consumers if draft.checked else [{}]
    try:
        body = await run_in_threadpool(CampaignIn.model_validate, _request_body(draft, consumers))
    except ValidationError as exc:
        for error in exc.errors():
            where = _FORM_FIELDS.get(str(error["loc"][0]), "recipients")
            if where != "recipients":
                empty = error["type"] in ("string_too_short", "missing")
                draft.errors.setdefault(where, "Required." if empty else error["msg"])
            elif draft.checked is not None:  # else the file was not read: its error says why
                draft.errors.setdefault("recipients", _rows_problem(draft.checked))
        return None
    return None if draft.errors else body


def _rows_problem(checked: RecipientsFile) -> str:
    if len(checked.consumers) > MAX_CONSUMERS:
        return (
            f"{len(checked.consumers):,} rows to send: at most {MAX_CONSUMERS:,} in one campaign."
        )
    if checked.bad:
        return "No row can be sent: each one has a problem (below)."
    return "The list has a header but no rows."


@dataclass(frozen=True)
class Submitted:
    """The new-campaign form as sent: its fields, and the recipients' bytes (None when missing
    or given twice, with the problem in ``draft.errors``)."""

    draft: Draft
    data: bytes | None


async def _submitted(
    name: FormText = "",
    handoff: FormText = "",
    skill: FormText = "",
    message: FormText = "",
    upload_id: Annotated[str, Form(max_length=64)] = "",
    recipients_file: UploadFile | None = None,
    recipients_text: Annotated[str, Form()] = "",
) -> Submitted:
    """The form both the check and the send read (a dependency: one declaration of its fields)."""
    draft = Draft(name.strip(), handoff.strip(), skill.strip(), message, upload_id)
    return Submitted(draft, await _recipients_data(recipients_file, recipients_text, draft))


@router.post("/campaigns/new", name="web_check_campaign")
async def check_campaign(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_WRITE)],
    form: Annotated[Submitted, Depends(_submitted)],
) -> Response:
    """Check every row and the fields; send nothing. htmx swaps in the preview alone (the file
    stays chosen); without htmx the whole page comes back."""
    draft, data = form.draft, form.data
    await _check(request, viewer, draft, data)
    status = 400 if draft.errors else 200
    if request.headers.get("hx-request"):
        return _preview(request, draft, status)
    return await _new_page(request, viewer, draft, status)


@router.post("/campaigns", name="web_create_campaign")
async def create_campaign(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_WRITE)],
    form: Annotated[Submitted, Depends(_submitted)],
) -> Response:
    """Check again and send the rows that pass; the rows refused are left out. The form's
    ``upload_id`` is the idempotency key: a second submit of the same form sends nothing more."""
    draft, data = form.draft, form.data
    body = await _check(request, viewer, draft, data)
    if body is None or draft.checked is None or data is None:
        return await _refused(request, viewer, draft, 400)
    campaign_request = CampaignRequest(
        name=body.campaign_name,
        skill=body.skill,
        handoff_id=body.template_id,
        outbound_number=None,
        consent=True,
        message_text=body.message.text if body.message else None,
        consumers=body.consumers,
        list_accepted=False,
    )
    # What the key promises: this form, these fields, this file.
    fingerprint = {
        **draft.values,
        "message": draft.message,
        "file": hashlib.sha256(data).hexdigest(),
    }
    repeat = Repeat(f"web-{draft.upload_id or uuid.uuid4().hex}", fingerprint)
    try:
        sent = await usecases.create_campaign(
            services_of(request).tx,
            viewer.principal.account_id,
            campaign_request,
            repeat=repeat,
            answer=_answer,
        )
    except IdempotencyKeyReused as exc:
        draft.errors["form"] = (
            "This form was already sent with other fields or another file; nothing was sent "
            "again. Open a new campaign form to send another campaign."
        )
        return await _refused(request, viewer, draft, exc.status)
    except ParlayError as exc:
        field_name = _FORM_FIELDS.get(exc.errors[0].field, "") if exc.errors else ""
        if isinstance(exc, Conflict) or not field_name:
            draft.errors["form"] = exc.detail
        else:
            draft.errors[field_name] = exc.errors[0].message
        return await _refused(request, viewer, draft, exc.status)
    target = f"{WEB_ROOT}/campaigns/{sent.body['proactiveCampaignId']}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


async def _refused(request: Request, viewer: Viewer, draft: Draft, status: int) -> Response:
    """The form's problems: in the preview (htmx keeps the chosen file), else the whole page."""
    if request.headers.get("hx-request"):
        return _preview(request, draft, status)
    return await _new_page(request, viewer, draft, status)


def _answer(accepted: Accepted) -> tuple[int, Any]:
    return 200, {"proactiveCampaignId": accepted.campaign.id, "acceptedCount": accepted.accepted}


# --- one campaign -------------------------------------------------------------------------------


def _status_filter(status: str | None) -> str | None:
    return status if status in DeliveryStatus.__members__ else None


async def _detail(
    request: Request,
    viewer: Viewer,
    campaign_id: str,
    *,
    status: str | None = None,
    cursor: str | None = None,
    notice: str | None = None,
    error: str | None = None,
    code: int = 200,
) -> Response:
    tx, account_id = services_of(request).tx, viewer.principal.account_id
    state = await usecases.campaign_state(tx, account_id, campaign_id)
    recipients = await usecases.recipients(
        tx, account_id, campaign_id, status=status, cursor=cursor, limit=RECIPIENTS_PAGE
    )
    context = {
        "campaign": state.campaign,
        "counts": state.counts,
        "statuses": [s.value for s in DeliveryStatus],
        "live": state.campaign.status in ACTIVE,
        "recipients": recipients.recipients,
        "next_cursor": recipients.next_cursor,
        "status": status,
        "cursor": cursor,
        "notice": notice,
        "error": error,
        "can_write": viewer.can(Permission.CAMPAIGNS_WRITE),
        "can_export": viewer.can(Permission.REPORTING),
        "retryable": state.counts.get(DeliveryStatus.FAILED, 0) > 0,
    }
    return render(request, "campaigns/detail.html", context, status=code)


_NOTICES = {"cancelled": "The campaign was cancelled: its queued recipients will not be sent."}


@router.get("/campaigns/{campaign_id}", name="web_campaign")
async def campaign(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_READ)],
    campaign_id: CampaignIdPath,
    status: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    done: Annotated[str | None, Query(max_length=32)] = None,
    requeued: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    notice = _NOTICES.get(done or "")
    if requeued is not None:
        notice = f"{requeued:,} failed recipient(s) queued again."
    return await _detail(
        request,
        viewer,
        campaign_id,
        status=_status_filter(status),
        cursor=cursor,
        notice=notice,
    )


@router.get("/campaigns/{campaign_id}/counts", name="web_campaign_counts")
async def campaign_counts(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_READ)],
    campaign_id: CampaignIdPath,
) -> Response:
    """The campaign's status and counts alone: what its page polls while it is sending."""
    state = await usecases.campaign_state(
        services_of(request).tx, viewer.principal.account_id, campaign_id
    )
    context = {
        "campaign": state.campaign,
        "counts": state.counts,
        "statuses": [s.value for s in DeliveryStatus],
        "live": state.campaign.status in ACTIVE,
    }
    return render(request, "campaigns/_counts.html", context)


@router.post("/campaigns/{campaign_id}/cancel", name="web_cancel_campaign")
async def cancel_campaign(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_WRITE)],
    campaign_id: CampaignIdPath,
) -> Response:
    try:
        await usecases.cancel_campaign(
            services_of(request).tx, viewer.principal.account_id, campaign_id
        )
    except Conflict as exc:
        return await _detail(request, viewer, campaign_id, error=exc.detail, code=409)
    return RedirectResponse(f"{WEB_ROOT}/campaigns/{campaign_id}?done=cancelled", status_code=303)


@router.post("/campaigns/{campaign_id}/retry-failed", name="web_retry_failed")
async def retry_failed(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.CAMPAIGNS_WRITE)],
    campaign_id: CampaignIdPath,
) -> Response:
    try:
        requeued = await usecases.retry_failed(
            services_of(request).tx, viewer.principal.account_id, campaign_id
        )
    except Conflict as exc:
        return await _detail(request, viewer, campaign_id, error=exc.detail, code=409)
    return RedirectResponse(
        f"{WEB_ROOT}/campaigns/{campaign_id}?requeued={requeued}", status_code=303
    )


@router.get("/campaigns/{campaign_id}/recipients.csv", name="web_campaign_csv")
async def campaign_csv(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.REPORTING)],
    campaign_id: CampaignIdPath,
) -> Response:
    """The Reporting API's campaign report as CSV: every recipient, streamed."""
    chunks = await reporting.campaign_recipients(
        services_of(request).tx, viewer.principal.account_id, campaign_id
    )
    return csv_response(f"campaign-{campaign_id}", CONSUMER_FIELDS, chunks, consumer_values)
