"""Every endpoint the client covers, once: the path, the body, and how its answer is read. Both
clients run these calls; neither knows a URL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import quote

import httpx

from parlay.client import types as t
from parlay.client._core import Call, Page, Request, new_idempotency_key

T = TypeVar("T")


def _seg(value: str | int) -> str:
    return quote(str(value), safe="")


def _as(kind: type[T]) -> Callable[[httpx.Response], T]:
    """A parser reading the JSON answer as ``kind`` (a TypedDict: no conversion, as served)."""

    def parse(response: httpx.Response) -> T:
        return cast(T, response.json())

    return parse


def _nothing(response: httpx.Response) -> None:
    return None


def _drop_none(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not None}


class Calls:
    """The calls of one account."""

    def __init__(self, account_id: str) -> None:
        self.account = _seg(account_id)
        self.base = f"/api/account/{self.account}"
        self.campaigns = f"/api/v2/account/{self.account}/campaign"

    # Campaigns ----------------------------------------------------------------------------------

    def create_campaign(
        self,
        *,
        name: str,
        skill: str,
        handoff_id: str,
        consumers: Sequence[t.Consumer],
        message: str | None = None,
        outbound_number: str | None = None,
        windows: Sequence[dict[str, Any]] | None = None,
        list_accepted: bool = False,
        idempotency_key: str | None = None,
    ) -> Call[t.CampaignAccepted]:
        body = _drop_none(
            {
                "campaignName": name,
                "skill": skill,
                "templateId": handoff_id,
                "consent": True,
                "consumers": list(consumers),
                "message": {"text": message} if message is not None else None,
                "outboundNumber": outbound_number,
                "schedulingMetrics": {"windows": list(windows)} if windows is not None else None,
            }
        )
        return Call(
            Request(
                "POST",
                self.campaigns,
                json=body,
                headers={} if list_accepted else {"Prefer": "return=minimal"},
                idempotency_key=idempotency_key or new_idempotency_key(),
            ),
            _as(t.CampaignAccepted),
        )

    def append_consumers(
        self, campaign_id: str, consumers: Sequence[t.Consumer], *, list_accepted: bool = False
    ) -> Call[t.CampaignAccepted]:
        return Call(
            Request(
                "POST",
                f"{self.campaigns}/{_seg(campaign_id)}/consumers",
                json={"consumers": list(consumers)},
                headers={} if list_accepted else {"Prefer": "return=minimal"},
            ),
            _as(t.CampaignAccepted),
        )

    def get_campaign(self, campaign_id: str) -> Call[t.Campaign]:
        return Call(Request("GET", f"{self.campaigns}/{_seg(campaign_id)}"), _as(t.Campaign))

    def campaign_page(
        self,
        cursor: str | None = None,
        *,
        status: str | None = None,
        created_after: str | None = None,
        created_before: str | None = None,
        limit: int = 100,
    ) -> Call[Page[t.CampaignSummary]]:
        params = _drop_none(
            {
                "status": status,
                "createdAfter": created_after,
                "createdBefore": created_before,
                "cursor": cursor,
                "limit": limit,
            }
        )

        def parse(response: httpx.Response) -> Page[t.CampaignSummary]:
            body = response.json()
            return Page(body["campaigns"], body["nextCursor"])

        return Call(Request("GET", self.campaigns, params=params), parse)

    def recipient_page(
        self,
        campaign_id: str,
        cursor: str | None = None,
        *,
        status: str | None = None,
        limit: int = 1000,
    ) -> Call[Page[t.Recipient]]:
        params = _drop_none({"status": status, "cursor": cursor, "limit": limit})

        def parse(response: httpx.Response) -> Page[t.Recipient]:
            body = response.json()
            return Page(body["conversations"], body["nextCursor"])

        path = f"{self.campaigns}/{_seg(campaign_id)}/conversations"
        return Call(Request("GET", path, params=params), parse)

    def cancel_campaign(self, campaign_id: str) -> Call[t.Campaign]:
        path = f"{self.campaigns}/{_seg(campaign_id)}/cancel"
        return Call(Request("POST", path), _as(t.Campaign))

    def retry_failed(self, campaign_id: str) -> Call[int]:
        def parse(response: httpx.Response) -> int:
            return int(response.json()["requeued"])

        return Call(Request("POST", f"{self.campaigns}/{_seg(campaign_id)}/retry-failed"), parse)

    # C2M ----------------------------------------------------------------------------------------

    def check_eligibility(
        self,
        *,
        skill: str,
        phone: str,
        handoff_id: str,
        consumer_id: str | None = None,
        ivr_number: str | None = None,
        template_variables: dict[str, str] | None = None,
        sdes: list[dict[str, Any]] | None = None,
    ) -> Call[t.Eligibility]:
        body = _drop_none(
            {
                "skill": skill,
                "consumerPhoneNumber": phone,
                "handoffId": handoff_id,
                "consumerId": consumer_id,
                "ivrNumber": ivr_number,
                "templateVariables": template_variables,
                "sdes": sdes,
            }
        )
        return Call(
            Request("POST", f"{self.base}/eligibility", params={"v": "2.0"}, json=body),
            _as(t.Eligibility),
        )

    def send_invite(
        self,
        call_id: str,
        *,
        channel: str | None = None,
        skill: str | None = None,
        message: str | None = None,
        idempotency_key: str | None = None,
    ) -> Call[t.Invite]:
        body = _drop_none(
            {
                "callId": call_id,
                "overrideChannel": channel,
                "overrideSkill": skill,
                "overrideMessage": message,
            }
        )
        return Call(
            Request(
                "POST",
                f"{self.base}/invite",
                params={"v": "2.0"},
                json=body,
                idempotency_key=idempotency_key or new_idempotency_key(),
            ),
            _as(t.Invite),
        )

    def get_invite(self, call_id: str) -> Call[t.InviteState]:
        return Call(Request("GET", f"{self.base}/invite/{_seg(call_id)}"), _as(t.InviteState))

    # Handoffs -----------------------------------------------------------------------------------

    def list_handoffs(self) -> Call[list[t.Handoff]]:
        def parse(response: httpx.Response) -> list[t.Handoff]:
            return cast(list[t.Handoff], response.json()["handoffs"])

        return Call(Request("GET", f"{self.base}/handoffs"), parse)

    def get_handoff(self, handoff_id: str) -> Call[t.Handoff]:
        return Call(Request("GET", f"{self.base}/handoffs/{_seg(handoff_id)}"), _as(t.Handoff))

    def create_handoff(
        self, handoff: t.HandoffIn, *, idempotency_key: str | None = None
    ) -> Call[t.Handoff]:
        return Call(
            Request(
                "POST",
                f"{self.base}/handoffs",
                json=dict(handoff),
                idempotency_key=idempotency_key or new_idempotency_key(),
            ),
            _as(t.Handoff),
        )

    def replace_handoff(self, handoff_id: str, handoff: t.HandoffIn) -> Call[t.Handoff]:
        path = f"{self.base}/handoffs/{_seg(handoff_id)}"
        return Call(Request("PUT", path, json=dict(handoff)), _as(t.Handoff))

    def delete_handoff(self, handoff_id: str) -> Call[None]:
        return Call(Request("DELETE", f"{self.base}/handoffs/{_seg(handoff_id)}"), _nothing)

    # Skills and users ---------------------------------------------------------------------------

    def list_skills(self) -> Call[list[t.Skill]]:
        def parse(response: httpx.Response) -> list[t.Skill]:
            return cast(list[t.Skill], response.json()["skills"])

        return Call(Request("GET", f"{self.base}/skills"), parse)

    def create_skill(self, name: str) -> Call[t.Skill]:
        return Call(Request("POST", f"{self.base}/skills", json={"name": name}), _as(t.Skill))

    def list_users(self) -> Call[list[t.User]]:
        def parse(response: httpx.Response) -> list[t.User]:
            return cast(list[t.User], response.json()["users"])

        return Call(Request("GET", f"{self.base}/users"), parse)

    def get_user(self, user_id: int) -> Call[t.User]:
        return Call(Request("GET", f"{self.base}/users/{_seg(user_id)}"), _as(t.User))

    def create_user(
        self,
        *,
        username: str,
        password: str,
        roles: Sequence[str],
        type: str | None = None,
        skills: Sequence[str] | None = None,
        max_concurrent_conversations: int | None = None,
    ) -> Call[t.User]:
        body = _drop_none(
            {
                "username": username,
                "password": password,
                "roles": list(roles),
                "type": type,
                "skills": list(skills) if skills is not None else None,
                "maxConcurrentConversations": max_concurrent_conversations,
            }
        )
        return Call(Request("POST", f"{self.base}/users", json=body), _as(t.User))

    # Deliveries ---------------------------------------------------------------------------------

    def get_delivery(self, delivery_id: str) -> Call[t.Delivery]:
        path = f"{self.base}/deliveries/{_seg(delivery_id)}"
        return Call(Request("GET", path), _as(t.Delivery))

    # Status webhooks ----------------------------------------------------------------------------

    def create_webhook(
        self, url: str, events: Sequence[str], *, description: str | None = None
    ) -> Call[t.WebhookCreated]:
        body = _drop_none({"url": url, "events": list(events), "description": description})
        return Call(Request("POST", f"{self.base}/webhooks", json=body), _as(t.WebhookCreated))

    def list_webhooks(self) -> Call[list[t.Webhook]]:
        def parse(response: httpx.Response) -> list[t.Webhook]:
            return cast(list[t.Webhook], response.json()["webhooks"])

        return Call(Request("GET", f"{self.base}/webhooks"), parse)

    def get_webhook(self, webhook_id: int) -> Call[t.Webhook]:
        return Call(Request("GET", f"{self.base}/webhooks/{_seg(webhook_id)}"), _as(t.Webhook))

    def delete_webhook(self, webhook_id: int) -> Call[None]:
        return Call(Request("DELETE", f"{self.base}/webhooks/{_seg(webhook_id)}"), _nothing)

    def enable_webhook(self, webhook_id: int) -> Call[t.Webhook]:
        path = f"{self.base}/webhooks/{_seg(webhook_id)}/enable"
        return Call(Request("POST", path), _as(t.Webhook))

    def test_webhook(self, webhook_id: int) -> Call[str]:
        def parse(response: httpx.Response) -> str:
            return str(response.json()["eventId"])

        return Call(Request("POST", f"{self.base}/webhooks/{_seg(webhook_id)}/test"), parse)

    # Staff login --------------------------------------------------------------------------------

    def login(self, username: str, password: str) -> Call[t.LoginToken]:
        body = {"username": username, "password": password}
        return Call(
            Request("POST", f"{self.base}/login", json=body, authenticated=False),
            _as(t.LoginToken),
        )
