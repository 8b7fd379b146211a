"""SMS quiet hours: 08:00 - 21:00 in the recipient's local time, from the number."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from parlay.eligibility.quiet_hours import (
    WINDOW_END,
    WINDOW_START,
    next_send_time,
    zones_for_number,
)

SF = "+14155552671"  # America/Los_Angeles
NY = "+12025550123"  # America/New_York
BERLIN = "+4915112345678"
AUSTRALIA = "+61412345678"  # a mobile: any of the country's zones
LA = ZoneInfo("America/Los_Angeles")


def local(hour: int, minute: int = 0, second: int = 0, day: int = 5) -> datetime:
    """A moment given in San Francisco's wall-clock time (January 2026: PST, UTC-8)."""
    return datetime(2026, 1, day, hour, minute, second, tzinfo=LA).astimezone(UTC)


def test_the_zone_comes_from_the_number() -> None:
    assert zones_for_number(SF) == ("America/Los_Angeles",)
    assert zones_for_number(NY) == ("America/New_York",)
    assert zones_for_number(BERLIN) == ("Europe/Berlin",)
    assert "Australia/Sydney" in zones_for_number(AUSTRALIA)


@pytest.mark.parametrize(
    "moment",
    [local(8), local(12), local(20, 59, 59)],
    ids=["08:00", "noon", "20:59:59"],
)
def test_an_sms_may_go_from_0800_until_2100_local(moment: datetime) -> None:
    assert next_send_time(SF, moment) is None


@pytest.mark.parametrize(
    ("moment", "opens"),
    [
        (local(21), local(8, day=6)),
        (local(22, 3, 20), local(8, day=6)),
        (local(23, 59, 59), local(8, day=6)),
        (local(0, 0, 1, day=6), local(8, day=6)),
        (local(7, 58, 30, day=6), local(8, day=6)),
        (local(7, 59, 59, day=6), local(8, day=6)),
    ],
    ids=["21:00", "22:03:20", "23:59:59", "00:00:01", "07:58:30", "07:59:59"],
)
def test_outside_the_window_the_sms_waits_for_0800_local_exactly(
    moment: datetime, opens: datetime
) -> None:
    assert next_send_time(SF, moment) == opens


def test_the_window_is_each_recipients_own() -> None:
    moment = datetime(2026, 1, 6, 6, 0, tzinfo=UTC)  # 22:00 in SF, 01:00 in NY, 07:00 in Berlin
    assert next_send_time(SF, moment) == datetime(2026, 1, 6, 16, 0, tzinfo=UTC)
    assert next_send_time(NY, moment) == datetime(2026, 1, 6, 13, 0, tzinfo=UTC)
    assert next_send_time(BERLIN, moment) == datetime(2026, 1, 6, 7, 0, tzinfo=UTC)


def test_the_window_follows_daylight_saving_time() -> None:
    # US clocks go forward on 8 March 2026: 08:00 is then 15:00 UTC, not 16:00.
    evening = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)  # 22:00 PST on the 7th
    assert next_send_time(SF, evening) == datetime(2026, 3, 8, 15, 0, tzinfo=UTC)


def test_a_number_of_several_zones_waits_until_it_is_daytime_in_all_of_them() -> None:
    moment = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)  # 04:00 in Sydney, 01:00 in Perth
    opens = next_send_time(AUSTRALIA, moment)
    assert opens is not None
    assert opens > moment
    zones = [ZoneInfo(z) for z in zones_for_number(AUSTRALIA)]

    def daytime_everywhere(at: datetime) -> bool:
        return all(WINDOW_START <= at.astimezone(z).time() < WINDOW_END for z in zones)

    assert daytime_everywhere(opens)
    assert not daytime_everywhere(opens - timedelta(minutes=5))  # the earliest such moment
    assert next_send_time(AUSTRALIA, opens) is None


def test_the_window_bounds_are_0800_and_2100() -> None:
    assert (time(8, 0), time(21, 0)) == (WINDOW_START, WINDOW_END)
