"""A campaign's send windows (LivePerson's ``schedulingMetrics.windows``): the weekdays and
times of day, in the recipient's local time, when its deliveries may go. Outside them a delivery
waits as SCHEDULED until the next window opens.

Pure rules: parsing the accepted form, and when a window is next open in a given zone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_END_OF_DAY = time.max


@dataclass(frozen=True)
class SendWindow:
    """One window: ``weekday`` (0 = Monday), from ``start`` up to (not including) ``end``."""

    weekday: int
    start: time
    end: time  # ``time.max`` for a window that runs to midnight (24:00)

    def to_json(self) -> dict[str, Any]:
        end = "24:00" if self.end == _END_OF_DAY else self.end.strftime("%H:%M")
        return {"day": DAYS[self.weekday], "start": self.start.strftime("%H:%M"), "end": end}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SendWindow:
        end = _END_OF_DAY if data["end"] == "24:00" else time.fromisoformat(data["end"])
        return cls(DAYS.index(data["day"]), time.fromisoformat(data["start"]), end)


class WindowProblem(ValueError):
    """A window that cannot be: the message says why, ``index`` which one."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(message)
        self.index = index
        self.field = field


def _time_of_day(hour: int, minute: int, *, end: bool) -> time | None:
    if hour == 24:
        return _END_OF_DAY if end and minute == 0 else None
    return time(hour, minute)


def parse_windows(windows: Iterable[tuple[str, int, int, int, int]]) -> tuple[SendWindow, ...]:
    """Windows from ``(day, startHour, startMinute, endHour, endMinute)``; ``WindowProblem`` for a
    day that is not a weekday's name, a time past 24:00, or an end not after its start (a window
    over midnight is written as two)."""
    parsed = []
    for i, (day, start_hour, start_minute, end_hour, end_minute) in enumerate(windows):
        if day.upper() not in DAYS:
            raise WindowProblem(i, "day", f"one of {', '.join(DAYS)}")
        start = _time_of_day(start_hour, start_minute, end=False)
        if start is None:
            raise WindowProblem(i, "startTime", "must be before 24:00")
        end = _time_of_day(end_hour, end_minute, end=True)
        if end is None or end <= start:
            raise WindowProblem(i, "endTime", "must be after startTime, at most 24:00")
        parsed.append(SendWindow(DAYS.index(day.upper()), start, end))
    return tuple(parsed)


def next_open(windows: Sequence[SendWindow], zone: ZoneInfo, now: datetime) -> datetime | None:
    """None if a window is open at ``now`` in ``zone``; else when the next one opens (None too
    when there are no windows: no restriction)."""
    if not windows:
        return None
    local = now.astimezone(zone)
    if any(w.weekday == local.weekday() and w.start <= local.time() < w.end for w in windows):
        return None
    opens = []
    for days_ahead in range(8):
        date = local.date() + timedelta(days=days_ahead)
        for w in windows:
            if w.weekday == date.weekday():
                candidate = datetime.combine(date, w.start, tzinfo=zone)
                if candidate > now:
                    opens.append(candidate)
    return min(opens) if opens else None
