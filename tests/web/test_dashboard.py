"""The analytics dashboard: the Reporting API's numbers for the same days and filters."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Brand
from tests.handoffs.bodies import handoff
from tests.web.conftest import WebClient

pytestmark = pytest.mark.anyio


async def _campaign(brand: Brand, consumers: int) -> None:
    made = await brand.client.post(f"{brand.url}/handoffs", json=handoff(), headers=brand.admin)
    assert made.status_code == 201, made.text
    body = {
        "campaignName": "dash",
        "skill": "billing",
        "templateId": made.json()["id"],
        "consent": True,
        "consumers": [{"consumerContent": {"inapp": f"c-{i}"}} for i in range(consumers)],
    }
    sent = await brand.client.post(
        f"/api/v2/account/{brand.id}/campaign", json=body, headers=brand.admin
    )
    assert sent.status_code == 200, sent.text


async def _api_analytics(brand: Brand, first: datetime, days: int) -> list[dict[str, Any]]:
    start = int(first.timestamp() * 1000)
    end = int((first + timedelta(days=days)).timestamp() * 1000)
    answer = await brand.client.get(
        f"/api/account/{brand.id}/app/prmsg/analytics",
        params={"attemptedStartTime": start, "attemptedEndTime": end},
        headers=brand.admin,
    )
    assert answer.status_code == 200, answer.text
    rows: list[dict[str, Any]] = answer.json()["analytics"]
    return rows


def _stage(page: str, name: str) -> int:
    found = re.search(rf'data-stage="{name}">([\d,]+)<', page)
    assert found is not None, name
    return int(found.group(1).replace(",", ""))


async def test_the_dashboard_and_its_csv_show_the_reporting_apis_numbers(web: WebClient) -> None:
    await web.signed_in_as("campaign_manager")
    await _campaign(web.brand, 3)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=6)
    api = await _api_analytics(web.brand, first, 7)
    query = f"from={first.date().isoformat()}&to={today.date().isoformat()}&app=prmsg"

    page = await web.http.get(f"/app/dashboard?{query}")
    assert page.status_code == 200
    assert _stage(page.text, "Attempted") == sum(r["attempted"] for r in api) == 3
    assert _stage(page.text, "Sent") == sum(r["sent"] for r in api)
    assert page.text.count('<th scope="row"><time') == 7  # one row per day, quiet days too

    exported = await web.http.get(f"/app/dashboard.csv?{query}")
    assert exported.status_code == 200
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [(r["transactionday"], int(r["attempted"])) for r in rows] == [
        (r["transactionday"], r["attempted"]) for r in api
    ]


async def test_a_filter_leaves_out_the_other_channels(web: WebClient) -> None:
    await web.signed_in_as("admin")
    await _campaign(web.brand, 2)
    inapp = await web.http.get("/app/dashboard?channel=inapp")
    sms = await web.http.get("/app/dashboard?channel=sms")
    assert _stage(inapp.text, "Attempted") == 2
    assert _stage(sms.text, "Attempted") == 0


async def test_a_window_over_sixty_days_is_refused_beside_the_dates(web: WebClient) -> None:
    await web.signed_in_as("admin")
    page = await web.http.get("/app/dashboard?from=2026-01-01&to=2026-06-01")
    assert page.status_code == 400
    assert 'aria-describedby="to-error"' in page.text
    assert "at most 60 days" in page.text
    assert (await web.http.get("/app/dashboard?from=yesterday")).status_code == 400
