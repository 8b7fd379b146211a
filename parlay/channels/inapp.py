"""The in-app channel: push to every allowed device of the consumer through its app's service.

The dispatcher has already chosen the target devices (the in-app send-time checks); this
channel looks up each device's app credentials (the ``PushApps`` port), sends one push per
device with the client of the app's push service, and folds the per-device answers into one
result: sent if any device took it, retried if none did but one may later, failed otherwise.
Dead tokens are reported in every case so the dispatcher disables them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from typing import Any, Protocol

from parlay.channels.base import Accepted, OutboundMessage, Rejected, RetryLater, SendResult
from parlay.channels.push import PushApp, PushClient, PushNotification
from parlay.delivery.status import ErrorCode, ErrorSource


class PushApps(Protocol):
    """Where the channel finds an account's apps and their credentials (``parlay.apps``)."""

    async def apps_of(self, account_id: str) -> Mapping[str, PushApp]:
        """The account's apps by app ID."""
        ...


class InAppChannel:
    def __init__(self, apps: PushApps, clients: dict[str, PushClient]) -> None:
        self._apps = apps
        self._clients = clients  # by push service: apns, fcm, proxy

    async def send(self, message: OutboundMessage) -> SendResult:
        apps = await self._apps.apps_of(message.account_id)
        info = message.campaign_info
        pushes: list[Coroutine[Any, Any, SendResult]] = []
        for target in message.targets:
            app = apps.get(target.app_id)
            client = self._clients.get(app.push_service) if app else None
            if app is None or client is None:
                continue
            note = PushNotification(
                push_message_id=str(message.delivery_id),
                token=target.push_token,
                platform="ios" if target.platform == "ios" else "android",
                message=message.text,
                title=message.title,
                backend_service=message.backend_service,
                lookback_seconds=message.lookback_seconds,
                expires_at=message.expires_at,
                campaign_info=info.to_json() if info is not None else None,
                collapse_id=message.collapse_id,
                conversation_id=message.payload.conversation_id,
            )
            pushes.append(client.push(app, note))
        if not pushes:
            return Rejected(
                ErrorSource.PARLAY,
                ErrorCode.PROVIDER_REJECTED,
                "none of the consumer's devices belongs to an app with push credentials",
            )
        if len(pushes) == 1:  # most consumers have one device: no task or gather per send
            return fold([await pushes[0]])
        return fold(await asyncio.gather(*pushes))

    async def close(self) -> None:
        for client in set(self._clients.values()):
            await client.close()


def fold(results: list[SendResult]) -> SendResult:
    """One delivery's result from its per-device results."""
    dead = tuple(t for r in results if isinstance(r, Rejected) for t in r.dead_tokens)
    accepted = [r for r in results if isinstance(r, Accepted)]
    if accepted:
        first = accepted[0]
        return Accepted(first.source, first.provider_message_id, dead_tokens=dead)
    retries = [r for r in results if isinstance(r, RetryLater)]
    if retries:
        waits = [r.retry_after for r in retries if r.retry_after is not None]
        first_retry = retries[0]
        return RetryLater(
            first_retry.source,
            first_retry.reason,
            retry_after=max(waits) if waits else None,
            dead_tokens=dead,
        )
    rejected = [r for r in results if isinstance(r, Rejected)]
    # Every device refused: a reason other than a dead token says more about the message.
    telling = next((r for r in rejected if r.code != ErrorCode.TOKEN_UNREGISTERED), rejected[0])
    return Rejected(telling.source, telling.code, telling.message, dead)
