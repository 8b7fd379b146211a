"""Which devices an agent's or bot's message is pushed to, as a pure rule
(``conversation_push_targets``): every device with a live token whose logout type takes agent
messages (logged in, or logged out with NONE), except those holding a live stream."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parlay.apps.models import Device
from parlay.delivery.status import DeliveryStatus, ErrorCode
from parlay.eligibility.rules import (
    Facts,
    Fail,
    Pass,
    Recipient,
    check,
    conversation_push_targets,
)

NOW = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def device(
    device_id: str,
    *,
    logged_in: bool = True,
    logout_mode: str | None = None,
    token: str | None = "tok",
    disabled: bool = False,
) -> Device:
    return Device(
        account_id="acme",
        consumer_id="ana",
        device_id=device_id,
        app_id="com.acme.app",
        platform="ios",
        push_service="apns",
        push_token=f"{token}-{device_id}" if token else None,
        token_disabled_at=NOW if disabled else None,
        logged_in=logged_in,
        logout_mode=logout_mode,
        registered_at=NOW,
        updated_at=NOW,
    )


def pushed_to(result: Pass | object) -> list[str]:
    assert isinstance(result, Pass), result
    return [t.device_id for t in result.targets]


@pytest.mark.parametrize(
    ("logged_in", "logout_mode", "pushed"),
    [(True, None, True), (False, "NONE", True), (False, "AGENT", False), (False, "ALL", False)],
    ids=["logged-in", "logout-NONE", "logout-AGENT", "logout-ALL"],
)
def test_the_logout_type_decides_whether_a_device_takes_agent_messages(
    logged_in: bool, logout_mode: str | None, pushed: bool
) -> None:
    phone = device("phone", logged_in=logged_in, logout_mode=logout_mode)
    result = conversation_push_targets([phone], set())
    if pushed:
        assert pushed_to(result) == ["phone"]
    else:
        assert result == Fail(
            DeliveryStatus.FAILED,
            ErrorCode.LOGGED_OUT_PUSH_DISABLED,
            "every device is logged out with a logout type that refuses agent messages",
        )


def test_only_devices_with_a_live_token_are_pushed() -> None:
    devices = [device("no-token", token=None), device("dead", disabled=True), device("live")]
    assert pushed_to(conversation_push_targets(devices, set())) == ["live"]
    result = conversation_push_targets(devices[:2], set())
    assert isinstance(result, Fail)
    assert (result.status, result.code) == (DeliveryStatus.FAILED, ErrorCode.NO_PUSH_TOKEN)
    no_device = conversation_push_targets([], set())
    assert isinstance(no_device, Fail)
    assert no_device.code == ErrorCode.NEVER_LOGGED_IN


def test_a_device_holding_a_live_stream_is_skipped_and_the_others_are_pushed() -> None:
    devices = [device("phone"), device("tablet"), device("old", logged_in=False, logout_mode="ALL")]
    assert pushed_to(conversation_push_targets(devices, {"phone"})) == ["tablet"]
    # Every device that would take it is streaming: the consumer saw it, nothing to push.
    result = conversation_push_targets(devices, {"phone", "tablet"})
    assert isinstance(result, Fail)
    assert (result.status, result.code) == (DeliveryStatus.SKIPPED, ErrorCode.LIVE_STREAM)


def test_an_open_conversation_does_not_stop_the_push_of_its_own_messages() -> None:
    """The outbound checks refuse a consumer with an open conversation; an agent's message is
    sent because of one."""
    facts = Facts()
    facts.devices[("acme", "ana")].append(device("phone"))
    facts.open_identities.add(("acme", "c:ana"))
    pushed = Recipient("acme", "inapp", "ana", None, conversation_push=True)
    outbound = Recipient("acme", "inapp", "ana", None, app_ids=("com.acme.app",))
    assert pushed_to(check(pushed, facts, NOW)) == ["phone"]
    assert isinstance(check(outbound, facts, NOW), Fail)
