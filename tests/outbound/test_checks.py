"""The send-time checks as pure functions: ``check(recipient, facts, now)``.

Facts are written by hand here (identities are ``c:<consumerId>`` and ``p:<phone>``); the last
tests load them from the database with ``load_facts``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from parlay.apps.models import Device
from parlay.delivery.status import DeliveryStatus, ErrorCode
from parlay.eligibility.facts import load_facts
from parlay.eligibility.rules import Facts, Fail, Hold, Pass, Recipient, check
from tests.handoffs.bodies import APP_ID
from tests.outbound.support import SF_MOBILE, SF_MOBILE_2, UK_LANDLINE, Outbound

ACCOUNT = "acme"
DAY = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)  # 09:00 in San Francisco
NIGHT = datetime(2026, 1, 6, 6, 0, tzinfo=UTC)  # 22:00 in San Francisco


def device(
    consumer_id: str = "c-1",
    *,
    app_id: str = APP_ID,
    token: str | None = "tok",
    logged_in: bool = True,
    logout_mode: str | None = None,
    disabled: bool = False,
    updated_at: datetime = DAY,
) -> Device:
    return Device(
        account_id=ACCOUNT,
        consumer_id=consumer_id,
        device_id=f"d-{token}-{app_id}",
        app_id=app_id,
        platform="ios",
        push_service="apns",
        push_token=token,
        token_disabled_at=DAY if disabled else None,
        logged_in=logged_in,
        logout_mode=logout_mode,
        registered_at=DAY,
        updated_at=updated_at,
    )


def facts(
    *devices: Device,
    open_: set[str] | None = None,
    linked: list[set[str]] | None = None,
    opted_out: set[str] | None = None,
    logged_in_once: set[str] | None = None,
) -> Facts:
    f = Facts()
    f.devices = defaultdict(list)
    for d in devices:
        f.devices[(ACCOUNT, d.consumer_id)].append(d)
    f.open_identities = {(ACCOUNT, i) for i in open_ or set()}
    for group in linked or []:
        for identity in group:
            f.linked[(ACCOUNT, identity)] = set(group)
    f.opted_out = {(ACCOUNT, p) for p in opted_out or set()}
    f.logged_in_once = {(ACCOUNT, c) for c in logged_in_once or set()}
    return f


def inapp(
    consumer_id: str | None = "c-1",
    *,
    phone: str | None = None,
    logged_in: bool = True,
    logged_out: bool = False,
) -> Recipient:
    return Recipient(
        ACCOUNT,
        "inapp",
        consumer_id,
        phone,
        app_ids=(APP_ID,),
        push_when_logged_in=logged_in,
        push_when_logged_out=logged_out,
    )


def sms(phone: str = SF_MOBILE) -> Recipient:
    return Recipient(ACCOUNT, "sms", None, phone)


def wa(phone: str = SF_MOBILE) -> Recipient:
    return Recipient(ACCOUNT, "wa", None, phone)


def failure(result: object) -> tuple[DeliveryStatus, ErrorCode]:
    assert isinstance(result, Fail), result
    return result.status, result.code


FAILED = DeliveryStatus.FAILED


# --- in-app ------------------------------------------------------------------------------------


def test_inapp_passes_with_the_devices_it_may_push_to() -> None:
    ok = device(token="a")
    other_app = device(token="b", app_id="com.other")
    no_token = device(token=None)
    result = check(inapp(), facts(ok, other_app, no_token), DAY)
    assert isinstance(result, Pass)
    assert [t.push_token for t in result.targets] == ["a"]
    assert (result.targets[0].app_id, result.targets[0].push_service) == (APP_ID, "apns")


def test_a_consumer_never_seen_never_logged_in() -> None:
    assert failure(check(inapp(), facts(), DAY)) == (FAILED, ErrorCode.NEVER_LOGGED_IN)
    assert failure(check(inapp(None), facts(), DAY)) == (FAILED, ErrorCode.NEVER_LOGGED_IN)


@pytest.mark.parametrize(
    "devices",
    [
        [device(token=None)],
        [device(app_id="com.other")],
        [device(disabled=True)],
        [],  # logged in once, no device left
    ],
    ids=["no-token", "other-app", "disabled-token", "no-device"],
)
def test_no_device_of_the_handoffs_apps_with_a_live_token_is_no_push_token(
    devices: list[Device],
) -> None:
    known = facts(*devices, logged_in_once={"c-1"})
    assert failure(check(inapp(), known, DAY)) == (FAILED, ErrorCode.NO_PUSH_TOKEN)


def test_the_push_rule_excluding_logged_in_devices_is_logged_in_push_disabled() -> None:
    result = check(inapp(logged_in=False), facts(device()), DAY)
    assert failure(result) == (FAILED, ErrorCode.LOGGED_IN_PUSH_DISABLED)


@pytest.mark.parametrize(
    ("handoff_allows", "mode"),
    [(False, "NONE"), (False, "AGENT"), (True, "ALL")],
    ids=["handoff-refuses", "handoff-refuses-agent", "consumer-logged-out-all"],
)
def test_the_push_rule_excluding_logged_out_devices_is_logged_out_push_disabled(
    handoff_allows: bool, mode: str
) -> None:
    logged_out = device(logged_in=False, logout_mode=mode)
    result = check(inapp(logged_out=handoff_allows), facts(logged_out), DAY)
    assert failure(result) == (FAILED, ErrorCode.LOGGED_OUT_PUSH_DISABLED)


@pytest.mark.parametrize("mode", ["NONE", "AGENT"])
def test_a_logged_out_device_keeping_outbound_pushes_is_pushed_when_the_handoff_allows(
    mode: str,
) -> None:
    logged_out = device(logged_in=False, logout_mode=mode)
    assert isinstance(check(inapp(logged_out=True), facts(logged_out), DAY), Pass)


def test_with_devices_in_both_states_the_latest_one_names_the_reason() -> None:
    older_in = device(token="a", updated_at=DAY - timedelta(days=1))
    newer_out = device(token="b", logged_in=False, logout_mode="ALL", updated_at=DAY)
    result = check(inapp(logged_in=False), facts(older_in, newer_out), DAY)
    assert failure(result) == (FAILED, ErrorCode.LOGGED_OUT_PUSH_DISABLED)
    # Only the allowed device is a target when the rule allows one state.
    mixed = check(inapp(logged_in=True), facts(older_in, newer_out), DAY)
    assert isinstance(mixed, Pass)
    assert [t.push_token for t in mixed.targets] == ["a"]


# --- open conversations ------------------------------------------------------------------------


def test_an_open_conversation_blocks_every_channel() -> None:
    open_phone = facts(device(), open_={f"p:{SF_MOBILE}"}, logged_in_once={"c-1"})
    for recipient in (sms(), wa(), inapp(phone=SF_MOBILE)):
        assert failure(check(recipient, open_phone, DAY)) == (FAILED, ErrorCode.OPEN_CONVERSATION)


def test_an_open_conversation_of_a_linked_identity_blocks_the_send() -> None:
    linked = facts(device(), open_={f"p:{SF_MOBILE}"}, linked=[{"c:c-1", f"p:{SF_MOBILE}"}])
    assert failure(check(inapp(), linked, DAY)) == (FAILED, ErrorCode.OPEN_CONVERSATION)
    # The same conversation does not block someone else.
    assert isinstance(
        check(inapp("c-2"), facts(device("c-2"), open_={f"p:{SF_MOBILE}"}), DAY), Pass
    )
    assert isinstance(check(sms(SF_MOBILE_2), linked, DAY), Pass)


def test_an_open_conversation_wins_over_every_other_reason() -> None:
    blocked = facts(open_={"c:c-1", f"p:{UK_LANDLINE}"}, opted_out={UK_LANDLINE})
    assert failure(check(inapp(), blocked, DAY))[1] == ErrorCode.OPEN_CONVERSATION
    assert failure(check(sms(UK_LANDLINE), blocked, DAY))[1] == ErrorCode.OPEN_CONVERSATION


# --- SMS and WhatsApp ----------------------------------------------------------------------------


@pytest.mark.parametrize("phone", [UK_LANDLINE, "+1415555", "not a number", None])
def test_sms_needs_a_valid_mobile_number(phone: str | None) -> None:
    result = check(Recipient(ACCOUNT, "sms", None, phone), facts(), DAY)
    assert failure(result) == (FAILED, ErrorCode.INVALID_NUMBER)


def test_an_opted_out_number_is_skipped() -> None:
    result = check(sms(), facts(opted_out={SF_MOBILE}), DAY)
    assert failure(result) == (DeliveryStatus.SKIPPED, ErrorCode.OPTED_OUT)


def test_sms_outside_the_recipients_daytime_is_held_until_it_opens() -> None:
    assert isinstance(check(sms(), facts(), DAY), Pass)
    held = check(sms(), facts(), NIGHT)
    assert held == Hold(datetime(2026, 1, 6, 16, 0, tzinfo=UTC))
    # Eligibility asks "could it be sent", not "now": quiet hours are not a failure there.
    assert isinstance(check(sms(), facts(), NIGHT, quiet_hours=False), Pass)


def test_whatsapp_checks_only_the_shape_of_the_number() -> None:
    assert isinstance(check(wa(UK_LANDLINE), facts(), NIGHT), Pass)  # a landline, at night
    assert isinstance(check(wa("+4915000000001"), facts(), DAY), Pass)
    for bad in ("4155552671", "+0123456789", None):
        result = check(Recipient(ACCOUNT, "wa", None, bad), facts(), DAY)
        assert failure(result) == (FAILED, ErrorCode.INVALID_NUMBER)


# --- loading the facts ---------------------------------------------------------------------------


@pytest.mark.anyio
async def test_load_facts_reads_links_devices_conversations_and_opt_outs_of_the_account(
    outbound: Outbound,
) -> None:
    other = "globex"
    await outbound.consumer("c-1", SF_MOBILE)
    token = await outbound.device("c-1")
    await outbound.open_conversation(phone=SF_MOBILE, channel="sms")
    await outbound.opt_out(SF_MOBILE_2)
    account = outbound.brand.id
    recipients = [
        Recipient(account, "inapp", "c-1", None, app_ids=(APP_ID,)),
        Recipient(account, "sms", None, SF_MOBILE_2),
        Recipient(other, "sms", None, SF_MOBILE),  # the same number in another account
    ]
    async with outbound.container.db.read() as session:
        loaded = await load_facts(session, recipients)
    assert loaded.linked[(account, "c:c-1")] == {"c:c-1", f"p:{SF_MOBILE}"}
    assert (account, "c-1") in loaded.logged_in_once
    assert [d.push_token for d in loaded.devices[(account, "c-1")]] == [token]
    assert loaded.open_identities == {(account, f"p:{SF_MOBILE}")}
    assert loaded.opted_out == {(account, SF_MOBILE_2)}
    now = outbound.now()
    assert failure(check(recipients[0], loaded, now))[1] == ErrorCode.OPEN_CONVERSATION
    assert failure(check(recipients[1], loaded, now))[1] == ErrorCode.OPTED_OUT
    # Nothing of one account counts against another.
    assert isinstance(check(recipients[2], loaded, now), Pass)
