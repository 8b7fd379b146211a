"""The analytics dashboard: the Reporting API's analytics (the same use case, so the same
numbers) drawn as a funnel, failures by reason and a daily series, with its CSV export.

The page adds nothing to the numbers: it sums the report's rows (day x channel x skill) over the
filters' window, and the table of days is the chart's data, so the page reads without scripts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from parlay.accounts import usecases as accounts
from parlay.accounts.permissions import Permission
from parlay.campaigns.intake import CHANNELS
from parlay.delivery.counts import METRICS
from parlay.lib.errors import InvalidRequest
from parlay.reporting import usecases as reporting
from parlay.reporting.service import AnalyticsRow, App, Filters, Window
from parlay.reporting.views import ANALYTICS_FIELDS, analytics_row
from parlay.web.auth import Viewer, page, services_of
from parlay.web.exports import csv_response
from parlay.web.templating import render

router = APIRouter()

DEFAULT_DAYS = 7
# The funnel's stages, as the page names them, by the report's metric.
FUNNEL = (
    ("attempted", "Attempted"),
    ("sent", "Sent"),
    ("delivered", "Delivered"),
    ("read", "Read"),
    ("conversations_created", "Conversations"),
)
APPS = {App.PRMSG: "Campaigns (prmsg)", App.C2M: "Call to message (c2m)"}


@dataclass
class Totals:
    """The report's rows summed: over the whole window, and per day."""

    funnel: list[int] = field(default_factory=lambda: [0] * len(METRICS))
    reasons: Counter[str] = field(default_factory=Counter)
    days: dict[date, list[int]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: Sequence[AnalyticsRow], first: date, last: date) -> Totals:
        totals = cls()
        day = first
        while day <= last:  # every day of the window, the quiet ones too
            totals.days[day] = [0] * len(METRICS)
            day += timedelta(days=1)
        for row in rows:
            per_day = totals.days.setdefault(row.day, [0] * len(METRICS))
            for i, n in enumerate(row.funnel):
                totals.funnel[i] += n
                per_day[i] += n
            totals.reasons.update(row.reasons)
        return totals

    def count(self, metric: str) -> int:
        return self.funnel[METRICS.index(metric)]

    def stages(self) -> list[tuple[str, int, float | None]]:
        """(name, count, share of attempted in %) of each funnel stage."""
        attempted = self.count("attempted")
        return [
            (name, n, round(100 * n / attempted, 1) if attempted else None)
            for metric, name in FUNNEL
            for n in [self.count(metric)]
        ]

    def series(self) -> list[dict[str, Any]]:
        return [
            {"day": day.isoformat(), **{m: counts[METRICS.index(m)] for m, _ in FUNNEL}}
            for day, counts in sorted(self.days.items())
        ]


@dataclass
class DashboardQuery:
    """The dashboard's filters as given, and what is wrong with them."""

    app: App
    first: date
    last: date
    channel: str | None
    skill: str | None
    errors: dict[str, str] = field(default_factory=dict)

    def params(self) -> str:
        values = {
            "app": self.app.value,
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
        }
        if self.channel:
            values["channel"] = self.channel
        if self.skill:
            values["skill"] = self.skill
        return urlencode(values)

    def window(self, zone: ZoneInfo) -> Window | None:
        start = datetime.combine(self.first, time(), zone)
        end = datetime.combine(self.last + timedelta(days=1), time(), zone)
        try:
            return Window.of(int(start.timestamp() * 1000), int(end.timestamp() * 1000))
        except InvalidRequest as exc:
            message = exc.errors[0].message if exc.errors else exc.detail
            self.errors["to"] = message.replace("attemptedStartTime", "From")
            return None

    def filters(self) -> Filters:
        return Filters(
            frozenset({self.channel}) if self.channel else None,
            frozenset({self.skill}) if self.skill else None,
        )


def _day(value: str | None, name: str, default: date, errors: dict[str, str]) -> date:
    if not value:
        return default
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = "A date as YYYY-MM-DD."
        return default


Text = Annotated[str | None, Query(max_length=255)]


@dataclass(frozen=True)
class Asked:
    """The dashboard's filters as the query string gives them (the page and its CSV take the
    same ones)."""

    app: str | None
    start: str | None
    end: str | None
    channel: str | None
    skill: str | None


def asked(
    app: Text = None,
    start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    channel: Text = None,
    skill: Text = None,
) -> Asked:
    return Asked(app, start, end, channel, skill)


AskedFor = Annotated[Asked, Depends(asked)]


async def _query(
    request: Request, viewer: Viewer, asked: Asked
) -> tuple[DashboardQuery, ZoneInfo, Window | None]:
    """The query read in the account's time zone, and its window (None when it has errors)."""
    settings = await accounts.get_settings(services_of(request).tx, viewer.principal.account_id)
    zone = ZoneInfo(settings.time_zone)
    today = datetime.now(zone).date()
    errors: dict[str, str] = {}
    last = _day(asked.end, "to", today, errors)
    first = _day(asked.start, "from", last - timedelta(days=DEFAULT_DAYS - 1), errors)
    chosen = App.C2M if asked.app == App.C2M.value else App.PRMSG
    query = DashboardQuery(chosen, first, last, asked.channel or None, asked.skill or None, errors)
    if first > last:
        errors["to"] = "The last day comes before the first."
    window = query.window(zone) if not query.errors else None
    return query, zone, window


@router.get("/dashboard", name="web_dashboard")
async def dashboard(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.REPORTING)],
    filters: AskedFor,
) -> Response:
    query, zone, window = await _query(request, viewer, filters)
    rows: list[AnalyticsRow] = []
    if window is not None:
        rows = await reporting.analytics(
            services_of(request).tx, viewer.principal.account_id, query.app, window, query.filters()
        )
    totals = Totals.of(rows, query.first, query.last) if window else Totals()
    context = {
        "query": query,
        "totals": totals,
        "apps": APPS,
        "channels": CHANNELS,
        "skills": await accounts.list_skills(services_of(request).tx, viewer.principal.account_id),
        "time_zone": str(zone),
    }
    return render(request, "dashboard.html", context, status=400 if query.errors else 200)


def _values(row: AnalyticsRow) -> list[Any]:
    wire = analytics_row(row)
    reasons = ";".join(f"{code}={n}" for code, n in wire["failureReasons"].items())
    return [*(wire[name] for name in ANALYTICS_FIELDS), reasons]


@router.get("/dashboard.csv", name="web_dashboard_csv")
async def dashboard_csv(
    request: Request,
    viewer: Annotated[Viewer, page(Permission.REPORTING)],
    filters: AskedFor,
) -> Response:
    """The report's rows (day x channel x skill) of the dashboard's filters, in the Reporting
    API's field names; ``failureReasons`` as ``code=n`` pairs."""
    query, _, window = await _query(request, viewer, filters)
    if window is None:
        raise InvalidRequest("; ".join(query.errors.values()))
    rows = await reporting.analytics(
        services_of(request).tx, viewer.principal.account_id, query.app, window, query.filters()
    )
    name = f"analytics-{query.app.value}-{query.first.isoformat()}-{query.last.isoformat()}"
    return csv_response(name, (*ANALYTICS_FIELDS, "failureReasons"), [rows], _values)
