"""SMS quiet hours: sent only 08:00-21:00 in the recipient's local time.

The time zone comes from the number (libphonenumber's geographic data); a number whose zone
cannot be told (many mobile ranges) takes its country's zones. With several candidate zones the
window is the time when it is daytime in all of them, so nobody is woken up.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import PhoneNumberType, timezone

WINDOW_START = time(8, 0)
WINDOW_END = time(21, 0)
_STEP = timedelta(minutes=5)
_HORIZON = timedelta(hours=48)
_UNKNOWN = "Etc/Unknown"


@lru_cache(maxsize=4096)
def zones_for_number(e164: str) -> tuple[str, ...]:
    number = phonenumbers.parse(e164, None)
    zones = tuple(z for z in timezone.time_zones_for_number(number) if z != _UNKNOWN)
    if zones:
        return zones
    region = phonenumbers.region_code_for_number(number)
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.FIXED_LINE)
    if example is None:
        return ()
    return tuple(z for z in timezone.time_zones_for_number(example) if z != _UNKNOWN)


def _open_everywhere(moment: datetime, zones: tuple[ZoneInfo, ...]) -> bool:
    return all(WINDOW_START <= moment.astimezone(z).time() < WINDOW_END for z in zones)


@lru_cache(maxsize=256)
def _zone_infos(zone_names: tuple[str, ...]) -> tuple[ZoneInfo, ...]:
    infos = []
    for name in zone_names:
        try:
            infos.append(ZoneInfo(name))
        except ZoneInfoNotFoundError:
            continue
    return tuple(infos)


@lru_cache(maxsize=4096)
def _next_open(zones: tuple[ZoneInfo, ...], start: datetime) -> datetime | None:
    candidate = start
    while candidate - start <= _HORIZON:
        if _open_everywhere(candidate, zones):
            return candidate
        candidate += _STEP
    return None


def local_zone(e164: str | None) -> ZoneInfo:
    """The recipient's time zone for a campaign's send windows: the most likely zone of their
    number; UTC for a consumer reached by no number (in-app) or a number no zone is known for."""
    zones = _zone_infos(zones_for_number(e164)) if e164 else ()
    return zones[0] if zones else ZoneInfo("UTC")


def next_send_time(e164: str, now: datetime) -> datetime | None:
    """None if an SMS to ``e164`` may go now; else when the daytime window next opens."""
    zones = _zone_infos(zones_for_number(e164))
    if not zones or _open_everywhere(now, zones):
        return None
    # Candidates lie on the 5-minute grid of UTC: every zone's offset is a multiple of 15 minutes,
    # so 08:00 local is on the grid and is found exactly (stepping from ``now`` itself would
    # answer up to 5 minutes after the window opens).
    start = now.astimezone(UTC).replace(second=0, microsecond=0)
    start += _STEP - timedelta(minutes=start.minute % 5)
    # Zones too far apart never share a daytime: then the first (most likely) zone decides.
    return _next_open(zones, start) or _next_open(zones[:1], start)
