"""A campaign's send windows, in the recipient's local time (pure rules, no database)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from parlay.delivery.windows import SendWindow, next_open, parse_windows

LA = ZoneInfo("America/Los_Angeles")
# Monday and Wednesday 09:00-10:00; Friday to the end of the day.
WINDOWS = parse_windows(
    [("MONDAY", 9, 0, 10, 0), ("wednesday", 9, 0, 10, 0), ("FRIDAY", 18, 30, 24, 0)]
)


def la(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of January 2026 in Los Angeles (the 5th is a Monday)."""
    return datetime(2026, 1, day, hour, minute, tzinfo=LA)


def test_inside_a_window_a_delivery_goes_now() -> None:
    assert next_open(WINDOWS, LA, la(5, 9, 30).astimezone(UTC)) is None
    assert next_open(WINDOWS, LA, la(9, 23, 59)) is None  # Friday until 24:00


def test_outside_every_window_it_waits_for_the_next_one_to_open() -> None:
    assert next_open(WINDOWS, LA, la(5, 8, 59)) == la(5, 9)
    assert next_open(WINDOWS, LA, la(5, 10, 0)) == la(7, 9)  # the end is not included
    assert next_open(WINDOWS, LA, la(10, 12)) == la(12, 9)  # Saturday: next Monday


def test_no_windows_means_any_time() -> None:
    assert next_open((), LA, la(10, 3)) is None


def test_windows_keep_their_form_through_storage() -> None:
    assert [SendWindow.from_json(w.to_json()) for w in WINDOWS] == list(WINDOWS)
    assert WINDOWS[2].to_json() == {"day": "FRIDAY", "start": "18:30", "end": "24:00"}
