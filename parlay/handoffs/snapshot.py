"""A handoff as a send sees it: typed, and frozen into each campaign and C2M call when accepted
(editing the handoff later never changes a send already queued).

Stored in the campaign's and call's ``handoff_snapshot`` JSON column in API casing (the stored
form predates these classes); ``from_json``/``to_json`` are the only places that know it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from parlay.handoffs.models import DEFAULT_LOOKBACK_DAYS

DEFAULT_LOOKBACK_SECONDS = DEFAULT_LOOKBACK_DAYS * 24 * 3600


@dataclass(frozen=True)
class ChannelConfig:
    """One channel of a handoff, in priority order: how to send on it."""

    type: str  # inapp | sms | wa
    outbound_number: str | None = None
    app_ids: tuple[str, ...] | None = None
    message_text: str | None = None
    notification_title: str | None = None
    template_name: str | None = None
    template_language: str | None = None
    template_variables: int | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChannelConfig:
        return cls(
            type=str(data["type"]),
            outbound_number=data.get("outboundNumber"),
            app_ids=tuple(data["appIds"]) if data.get("appIds") is not None else None,
            message_text=data.get("messageText"),
            notification_title=data.get("notificationTitle"),
            template_name=data.get("templateName"),
            template_language=data.get("templateLanguage"),
            template_variables=data.get("templateVariables"),
        )

    def to_json(self) -> dict[str, Any]:
        """API casing, unset fields left out (the stored and the API form)."""
        fields = {
            "type": self.type,
            "outboundNumber": self.outbound_number,
            "appIds": list(self.app_ids) if self.app_ids is not None else None,
            "messageText": self.message_text,
            "notificationTitle": self.notification_title,
            "templateName": self.template_name,
            "templateLanguage": self.template_language,
            "templateVariables": self.template_variables,
        }
        return {name: value for name, value in fields.items() if value is not None}

    @property
    def uses_template(self) -> bool:
        """A WhatsApp channel with an approved template (for sends outside the 24-hour window)."""
        return self.type == "wa" and bool(self.template_name)


class HandoffFields(Protocol):
    """What a snapshot is taken of: a ``Handoff`` row, or the columns read straight from the
    driver (``service.require_handoff_snapshot``)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def skill(self) -> str | None: ...
    @property
    def lookback_seconds(self) -> int: ...
    @property
    def route_all_within_lookback(self) -> bool: ...
    @property
    def push_when_logged_in(self) -> bool: ...
    @property
    def push_when_logged_out(self) -> bool: ...
    @property
    def channels(self) -> Sequence[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class HandoffSnapshot:
    """The handoff frozen into a campaign or call."""

    id: str
    name: str
    skill: str | None
    lookback_seconds: int
    route_all_within_lookback: bool
    push_when_logged_in: bool
    push_when_logged_out: bool
    channels: tuple[ChannelConfig, ...]

    @classmethod
    def of(cls, handoff: HandoffFields) -> HandoffSnapshot:
        return cls(
            id=handoff.id,
            name=handoff.name,
            skill=handoff.skill,
            lookback_seconds=handoff.lookback_seconds,
            route_all_within_lookback=handoff.route_all_within_lookback,
            push_when_logged_in=handoff.push_when_logged_in,
            push_when_logged_out=handoff.push_when_logged_out,
            channels=tuple(ChannelConfig.from_json(c) for c in handoff.channels),
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> HandoffSnapshot:
        return cls(
            id=str(data["id"]),
            name=str(data.get("name") or ""),
            skill=data.get("skill"),
            lookback_seconds=int(data.get("lookbackSeconds", DEFAULT_LOOKBACK_SECONDS)),
            route_all_within_lookback=bool(data.get("routeAllWithinLookback", True)),
            push_when_logged_in=bool(data.get("pushWhenLoggedIn", True)),
            push_when_logged_out=bool(data.get("pushWhenLoggedOut", False)),
            channels=tuple(ChannelConfig.from_json(c) for c in data.get("channels", ())),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "skill": self.skill,
            "lookbackSeconds": self.lookback_seconds,
            "routeAllWithinLookback": self.route_all_within_lookback,
            "pushWhenLoggedIn": self.push_when_logged_in,
            "pushWhenLoggedOut": self.push_when_logged_out,
            "channels": [c.to_json() for c in self.channels],
        }

    @property
    def channel_types(self) -> list[str]:
        return [c.type for c in self.channels]

    @cached_property
    def _by_type(self) -> dict[str, ChannelConfig]:
        # Read for every delivery a dispatcher sends: a lookup, not a scan.
        return {c.type: c for c in reversed(self.channels)}

    def channel(self, kind: str) -> ChannelConfig:
        """The handoff's channel of that type (an empty one if it has none)."""
        found = self._by_type.get(kind)
        return found if found is not None else ChannelConfig(kind)

    @property
    def app_ids(self) -> tuple[str, ...]:
        """The apps an in-app send may push to."""
        return self.channel("inapp").app_ids or ()
