"""The sandbox channel of a long-running process remembers a bounded number of sends: it is
also the SMS and WhatsApp fallback of accounts without a provider, so what it keeps for tests
to read must not grow with every message it ever accepted."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parlay.channels.base import Accepted, OutboundMessage, RetryLater
from parlay.channels.sandbox import SandboxChannel
from parlay.delivery.origins import OutboundPayload

pytestmark = pytest.mark.anyio


def _sms(delivery_id: int, phone: str) -> OutboundMessage:
    payload = OutboundPayload(str(delivery_id), "hello", "prmsg", 3600, None)
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    return OutboundMessage(delivery_id, "acme", "sms", payload, None, phone, expires, 1)


async def test_a_bounded_sandbox_keeps_its_newest_sends_and_counts_only_scripted_addresses() -> (
    None
):
    sandbox = SandboxChannel(keep=3)
    sandbox.script("+12025550100", "unavailable", "ok")

    results = [await sandbox.send(_sms(n, f"+1202555{n:04d}")) for n in range(1, 21)]
    retried = await sandbox.send(_sms(21, "+12025550100"))
    again = await sandbox.send(_sms(22, "+12025550100"))

    assert all(isinstance(r, Accepted) for r in results)
    assert (isinstance(retried, RetryLater), isinstance(again, Accepted)) == (True, True)
    assert 3 <= len(sandbox.sent) <= 6
    assert [s.delivery_id for s in sandbox.sent[-3:]] == [19, 20, 22]
    assert dict(sandbox.attempts) == {"+12025550100": 2}


async def test_an_unbounded_sandbox_keeps_every_send_and_attempt() -> None:
    sandbox = SandboxChannel()
    for n in range(1, 21):
        await sandbox.send(_sms(n, f"+1202555{n:04d}"))

    assert [s.delivery_id for s in sandbox.sent] == list(range(1, 21))
    assert len(sandbox.attempts) == 20
