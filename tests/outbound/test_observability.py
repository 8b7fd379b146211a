"""What an operator sees of the deliveries: one log line per recorded outcome, and the delivery
metrics on ``/metrics`` (outcomes by channel, status and error code; send latency per provider;
an invite's time from queued to sent; the queue's depth per lane)."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from parlay.dispatch.depth import QueueDepthGauge
from tests.handoffs.bodies import sms_channel
from tests.outbound.support import SF_MOBILE, Outbound, eventually, sms

pytestmark = pytest.mark.anyio
TOKEN = "scrape-me"
OK, REFUSED, FLAKY = "+14155550101", "+14155550102", "+14155550103"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(outbound: Outbound) -> Samples:
    response = await outbound.client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.mark.dispatch(metrics_token=SecretStr(TOKEN))
async def test_a_campaign_and_an_invite_are_counted_timed_and_logged_once_per_outcome(
    outbound: Outbound,
) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    outbound.sandbox.script(REFUSED, "reject:blocked")
    outbound.sandbox.script(FLAKY, "unavailable", "ok")
    outbound.start()
    with structlog.testing.capture_logs() as logs:
        body = await outbound.campaign(handoff_id, [sms(OK), sms(REFUSED), sms(FLAKY)])
        call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE)
        invite = (await outbound.invite(call["callId"])).json()
        await outbound.run_until_done()
        expected_lines = 5  # three sent (one after a retry), one failed, one retry
        lines = await eventually(
            lambda: _outcome_lines(logs),
            lambda found: len(found) >= expected_lines,
            what="the outcome log lines",
        )

    campaign_id = body["proactiveCampaignId"]
    by_phone = {d.phone: d for d in await outbound.deliveries(campaign_id=campaign_id)}
    seen = sorted((line["delivery_id"], line["status"], line["error_code"]) for line in lines)
    assert seen == sorted(
        [
            (by_phone[OK].id, "SENT", None),
            (by_phone[REFUSED].id, "FAILED", "PROVIDER_REJECTED"),
            (by_phone[FLAKY].id, "RETRY", None),
            (by_phone[FLAKY].id, "SENT", None),
            (int(invite["deliveryId"]), "SENT", None),
        ]
    )
    refused = next(line for line in lines if line["status"] == "FAILED")
    assert refused["account_id"] == outbound.brand.id
    assert refused["campaign_id"] == campaign_id
    assert refused["call_id"] is None
    assert refused["channel"] == "sms"
    assert refused["provider"] == "sandbox"
    assert refused["provider_latency_ms"] >= 0
    invited = next(line for line in lines if line["delivery_id"] == int(invite["deliveryId"]))
    assert (invited["call_id"], invited["campaign_id"]) == (call["callId"], None)

    samples = await eventually(
        lambda: scrape(outbound),
        lambda s: value(s, "parlay_delivery_outcomes_total", **SENT_SMS) == 3,
        what="the outcome counters",
    )
    outcomes = "parlay_delivery_outcomes_total"
    assert (
        value(samples, outcomes, channel="sms", status="FAILED", error_code="PROVIDER_REJECTED")
        == 1
    )
    assert value(samples, outcomes, channel="sms", status="RETRY", error_code="") == 1
    # Five answers from the provider, each timed once.
    assert value(samples, "parlay_provider_send_seconds_count", provider="sandbox") == 5
    # The clock is frozen: the invite went out at the moment it was queued.
    delay = "parlay_invite_queue_to_send_seconds"
    assert value(samples, f"{delay}_count", channel="sms") == 1
    assert value(samples, f"{delay}_sum", channel="sms") == 0
    assert value(samples, f"{delay}_bucket", channel="sms", le="0.05") == 1


SENT_SMS = {"channel": "sms", "status": "SENT", "error_code": ""}


@pytest.mark.dispatch(metrics_token=SecretStr(TOKEN))
async def test_a_flush_larger_than_a_report_slice_counts_and_logs_each_outcome_once(
    outbound: Outbound,
) -> None:
    """Outcomes are reported a slice at a time (stepping aside for invites in between)."""
    handoff_id = await outbound.handoff(sms_channel())
    many = 250
    outbound.start()
    with structlog.testing.capture_logs() as logs:
        await outbound.campaign(handoff_id, [sms(f"+1415{n:07d}") for n in range(many)])
        await outbound.run_until_done()
        lines = await eventually(
            lambda: _outcome_lines(logs),
            lambda found: len(found) >= many,
            what="the outcome log lines",
        )

    assert len(lines) == len({line["delivery_id"] for line in lines}) == many
    await eventually(
        lambda: scrape(outbound),
        lambda s: _all_outcomes(s) == many,
        what="the outcome counters",
    )


def _all_outcomes(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "parlay_delivery_outcomes_total")


async def _outcome_lines(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [line for line in logs if line["event"] == "delivery outcome"]


@pytest.mark.dispatch(metrics_token=SecretStr(TOKEN))
async def test_the_queue_depth_counts_due_deliveries_per_lane(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    await outbound.campaign(handoff_id, [sms(OK), sms(REFUSED)])
    call = await outbound.eligible(handoffId=handoff_id, consumerPhoneNumber=SF_MOBILE)
    assert (await outbound.invite(call["callId"])).status_code == 200
    container = outbound.container
    # No dispatcher runs: everything queued is still due.
    await QueueDepthGauge(container.db, outbound.clock, container.metrics, 5).sample()

    samples = await scrape(outbound)

    depth = "parlay_queue_depth"
    assert value(samples, depth, lane="sms") == 2
    assert value(samples, depth, lane="priority") == 1
    assert value(samples, depth, lane="inapp") == value(samples, depth, lane="wa") == 0


@pytest.mark.dispatch(metrics_token=SecretStr(TOKEN), log_delivery_outcomes=False)
async def test_without_outcome_lines_the_outcomes_are_still_counted(outbound: Outbound) -> None:
    handoff_id = await outbound.handoff(sms_channel())
    outbound.start()
    with structlog.testing.capture_logs() as logs:
        await outbound.campaign(handoff_id, [sms(OK)])
        await outbound.run_until_done()
        samples = await eventually(
            lambda: scrape(outbound),
            lambda s: value(s, "parlay_delivery_outcomes_total", **SENT_SMS) == 1,
            what="the outcome counter",
        )
    assert await _outcome_lines(logs) == []
    assert value(samples, "parlay_provider_send_seconds_count", provider="sandbox") == 1
