"""The rules of a handoff (and the text rule): one test per rule.

Each refusal is checked for its status, its errorCode and the one field named in ``errors``.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import Brand, problem
from tests.handoffs.bodies import handoff, inapp_channel, sms_channel, wa_channel

pytestmark = pytest.mark.anyio


async def create(brand: Brand, body: dict[str, Any]) -> httpx.Response:
    return await brand.client.post(f"{brand.url}/handoffs", json=body, headers=brand.admin)


async def created(brand: Brand, body: dict[str, Any]) -> dict[str, Any]:
    response = await create(brand, body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def assert_refused(response: httpx.Response, field: str, error_code: int = 1000) -> None:
    assert response.status_code == 400, response.text
    body = problem(response)
    assert body["status"] == 400
    assert body["errorCode"] == error_code
    assert [e["field"] for e in body["errors"]] == [field]


# --- channels --------------------------------------------------------------------------------


@pytest.mark.parametrize("other", [sms_channel(), wa_channel()], ids=["sms", "wa"])
async def test_inapp_is_never_combined_with_sms_or_wa(brand: Brand, other: dict[str, Any]) -> None:
    for channels in ([inapp_channel(), other], [other, inapp_channel()]):
        response = await create(brand, handoff(*channels))
        assert_refused(response, "channels")
        assert "inapp cannot be combined" in problem(response)["errorMessage"]


@pytest.mark.parametrize("order", [("sms", "wa"), ("wa", "sms")])
async def test_sms_and_wa_may_be_combined_and_their_order_is_the_fallback_order(
    brand: Brand, order: tuple[str, str]
) -> None:
    channel = {"sms": sms_channel(), "wa": wa_channel()}
    body = await created(brand, handoff(*(channel[t] for t in order)))
    assert tuple(c["type"] for c in body["channels"]) == order
    fetched = await brand.client.get(f"{brand.url}/handoffs/{body['id']}", headers=brand.admin)
    assert tuple(c["type"] for c in fetched.json()["channels"]) == order


@pytest.mark.edge
@pytest.mark.parametrize("channel", [inapp_channel(), sms_channel(), wa_channel()])
async def test_a_channel_type_appears_at_most_once(brand: Brand, channel: dict[str, Any]) -> None:
    assert_refused(await create(brand, handoff(channel, channel)), "channels")


@pytest.mark.parametrize("app_ids", [None, []], ids=["missing", "empty"])
async def test_inapp_must_name_the_app_ids_it_may_push_to(
    brand: Brand, app_ids: list[str] | None
) -> None:
    channel = inapp_channel(appIds=app_ids)
    if app_ids is None:
        del channel["appIds"]
    assert_refused(await create(brand, handoff(channel)), "channels.0.appIds")


async def test_inapp_app_ids_are_kept_in_order_without_repeats(brand: Brand) -> None:
    channel = inapp_channel(appIds=["com.acme.b", "com.acme.a", "com.acme.b"])
    body = await created(brand, handoff(channel))
    assert body["channels"][0]["appIds"] == ["com.acme.b", "com.acme.a"]


@pytest.mark.edge
@pytest.mark.parametrize(
    "template",
    [{"templateName": "callback"}, {"templateLanguage": "en_US"}, {"templateVariables": 2}],
    ids=["templateName", "templateLanguage", "templateVariables"],
)
@pytest.mark.parametrize("kind", ["inapp", "sms"])
async def test_message_templates_are_refused_on_inapp_and_sms(
    brand: Brand, kind: str, template: dict[str, Any]
) -> None:
    channel = inapp_channel(**template) if kind == "inapp" else sms_channel(**template)
    (field,) = template
    assert_refused(await create(brand, handoff(channel)), f"channels.0.{field}")


@pytest.mark.parametrize("missing", ["templateName", "templateLanguage"])
async def test_wa_must_name_template_name_and_language(brand: Brand, missing: str) -> None:
    channel = wa_channel()
    del channel[missing]
    assert_refused(await create(brand, handoff(channel)), f"channels.0.{missing}")
    empty = wa_channel(**{missing: ""})
    assert_refused(await create(brand, handoff(empty)), f"channels.0.{missing}")


async def test_wa_template_with_variables_is_accepted(brand: Brand) -> None:
    body = await created(brand, handoff(wa_channel(templateVariables=2)))
    assert body["channels"] == [
        {
            "type": "wa",
            "templateName": "callback",
            "templateLanguage": "en_US",
            "templateVariables": 2,
        }
    ]


@pytest.mark.parametrize(("index", "kind"), [(0, "sms"), (1, "wa")])
async def test_app_ids_are_refused_on_sms_and_wa(brand: Brand, index: int, kind: str) -> None:
    body = handoff(sms_channel(), wa_channel())
    assert body["channels"][index]["type"] == kind
    body["channels"][index]["appIds"] = ["com.acme.app"]
    assert_refused(await create(brand, body), f"channels.{index}.appIds")


async def test_inapp_has_no_outbound_number(brand: Brand) -> None:
    channel = inapp_channel(outboundNumber="+14155552671")
    assert_refused(await create(brand, handoff(channel)), "channels.0.outboundNumber")


@pytest.mark.edge
@pytest.mark.parametrize(
    "number", ["04155552671", "+1415555267", "+999123456", "+1-800-FLOWERS", "", "phone"]
)
@pytest.mark.parametrize("kind", ["sms", "wa"])
async def test_outbound_number_must_be_e164(brand: Brand, kind: str, number: str) -> None:
    channel = sms_channel if kind == "sms" else wa_channel
    response = await create(brand, handoff(channel(outboundNumber=number)))
    assert_refused(response, "channels.0.outboundNumber", error_code=1001)


async def test_outbound_number_is_stored_in_e164(brand: Brand) -> None:
    body = await created(brand, handoff(sms_channel(outboundNumber="+1 415-555-2671")))
    assert body["channels"][0]["outboundNumber"] == "+14155552671"
    # Without '+', as LivePerson's examples write numbers.
    body = await created(brand, handoff(sms_channel(outboundNumber="14155552671")))
    assert body["channels"][0]["outboundNumber"] == "+14155552671"


async def test_channels_omit_the_fields_they_do_not_have(brand: Brand) -> None:
    body = await created(brand, handoff(sms_channel()))
    assert body["channels"] == [
        {"type": "sms", "outboundNumber": "+14155552671", "messageText": "Hi"}
    ]
    assert None not in body["channels"][0].values()


async def test_a_handoff_has_at_least_one_channel(brand: Brand) -> None:
    assert_refused(await create(brand, handoff() | {"channels": []}), "channels")
    body = handoff()
    del body["channels"]
    assert_refused(await create(brand, body), "channels")


async def test_channel_type_is_inapp_sms_or_wa(brand: Brand) -> None:
    response = await create(brand, handoff({"type": "email", "messageText": "Hi"}))
    assert_refused(response, "channels.0.type")


# --- lookback period -----------------------------------------------------------------------


async def test_lookback_defaults_to_30_days(brand: Brand) -> None:
    body = await created(brand, handoff())
    assert (body["lookbackPeriodDay"], body["lookbackPeriodHour"]) == (30, 0)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ({"lookbackPeriodDay": 0, "lookbackPeriodHour": 1}, (0, 1)),
        ({"lookbackPeriodDay": 30, "lookbackPeriodHour": 0}, (30, 0)),
        ({"lookbackPeriodDay": 29, "lookbackPeriodHour": 23}, (29, 23)),
        ({"lookbackPeriodHour": 5}, (0, 5)),
        ({"lookbackPeriodDay": 2}, (2, 0)),
    ],
)
async def test_lookback_within_1_hour_and_30_days_is_accepted(
    brand: Brand, given: dict[str, int], stored: tuple[int, int]
) -> None:
    body = await created(brand, handoff(**given))
    assert (body["lookbackPeriodDay"], body["lookbackPeriodHour"]) == stored


async def test_lookback_minimum_is_1_hour(brand: Brand) -> None:
    response = await create(brand, handoff(lookbackPeriodDay=0, lookbackPeriodHour=0))
    assert_refused(response, "lookbackPeriodDay")


async def test_lookback_maximum_is_30_days(brand: Brand) -> None:
    response = await create(brand, handoff(lookbackPeriodDay=30, lookbackPeriodHour=1))
    assert_refused(response, "lookbackPeriodDay")


@pytest.mark.edge
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("lookbackPeriodDay", -1),
        ("lookbackPeriodDay", 31),
        ("lookbackPeriodHour", -1),
        ("lookbackPeriodHour", 24),
        ("lookbackPeriodHour", 1.5),
    ],
)
async def test_lookback_day_is_0_to_30_and_hour_0_to_23(
    brand: Brand, field: str, value: object
) -> None:
    assert_refused(await create(brand, handoff(**{field: value})), field)


# --- skill -----------------------------------------------------------------------------------


async def test_skill_must_exist_in_the_account(brand: Brand, other_brand: Brand) -> None:
    assert_refused(await create(brand, handoff(skill="nope")), "skill", error_code=1300)
    await other_brand.skill("sales")
    assert_refused(await create(brand, handoff(skill="sales")), "skill", error_code=1300)


async def test_skill_may_be_left_out(brand: Brand) -> None:
    body = handoff()
    del body["skill"]
    assert (await created(brand, body))["skill"] is None


# --- message text ----------------------------------------------------------------


@pytest.mark.edge
@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "x" * 1001,
        "Cafe\u0301",  # "Café" decomposed: not NFC
        "bell\u0007",
        "nul\u0000",
        "carriage\r\nreturn",
        "escape\u001b[31m",
        "private\ue000use",
    ],
    ids=["empty", "blank", "1001-chars", "not-nfc", "bell", "nul", "cr", "escape", "private-use"],
)
async def test_message_text_must_be_1_to_1000_chars_of_nfc_text_without_controls(
    brand: Brand, text: str
) -> None:
    response = await create(brand, handoff(sms_channel(messageText=text)))
    assert_refused(response, "channels.0.messageText")


@pytest.mark.parametrize(
    "text",
    [
        "line one\nline two",
        "a\tb",
        "Thanks 🙏🏽 — see you 👩‍👩‍👧 🇺🇸",
        "🫨 newer emoji than Python's Unicode tables",
        "Café",
        "x" * 1000,
        "日本語のテキスト",
    ],
    ids=["newline", "tab", "emoji", "unicode-15-emoji", "nfc", "1000-chars", "cjk"],
)
async def test_message_text_accepts_text_newline_tab_and_emoji(brand: Brand, text: str) -> None:
    body = await created(brand, handoff(sms_channel(messageText=text)))
    assert body["channels"][0]["messageText"] == text


@pytest.mark.parametrize(
    "content",
    [{"text": "hi"}, ["hi"], 42],
    ids=["object", "list", "number"],
)
async def test_message_text_refuses_anything_but_a_string(brand: Brand, content: object) -> None:
    response = await create(brand, handoff(sms_channel(messageText=content)))
    assert_refused(response, "channels.0.messageText")


# --- notification title --------------------------------------------------------------------


async def test_notification_title_is_accepted_on_inapp(brand: Brand) -> None:
    body = await created(brand, handoff(inapp_channel(notificationTitle="Acme 🛒")))
    assert body["channels"][0]["notificationTitle"] == "Acme 🛒"


@pytest.mark.parametrize("channel", [sms_channel(), wa_channel()], ids=["sms", "wa"])
async def test_notification_title_is_refused_on_sms_and_wa(
    brand: Brand, channel: dict[str, Any]
) -> None:
    channel = channel | {"notificationTitle": "Acme"}
    assert_refused(await create(brand, handoff(channel)), "channels.0.notificationTitle")


@pytest.mark.edge
@pytest.mark.parametrize("title", ["", "x" * 101, "bell\u0007", "Cafe\u0301"], ids=str)
async def test_notification_title_is_1_to_100_chars_of_text(brand: Brand, title: str) -> None:
    response = await create(brand, handoff(inapp_channel(notificationTitle=title)))
    assert_refused(response, "channels.0.notificationTitle")


async def test_notification_title_of_100_chars_is_accepted(brand: Brand) -> None:
    await created(brand, handoff(inapp_channel(notificationTitle="x" * 100)))


# --- the request as a whole -----------------------------------------------------------------


async def test_unknown_fields_are_refused(brand: Brand) -> None:
    assert_refused(await create(brand, handoff(priority="high")), "priority")
    channel = sms_channel(richContent={"type": "card"})
    assert_refused(await create(brand, handoff(channel)), "channels.0.richContent")


async def test_snake_case_names_are_unknown_fields(brand: Brand) -> None:
    response = await create(brand, handoff(lookback_period_day=2))
    assert_refused(response, "lookback_period_day")


@pytest.mark.parametrize("name", ["", "x" * 256], ids=["empty", "256-chars"])
async def test_name_is_1_to_255_chars(brand: Brand, name: str) -> None:
    assert_refused(await create(brand, handoff(name=name)), "name")


async def test_replacing_a_handoff_follows_the_same_rules(brand: Brand) -> None:
    original = await created(brand, handoff())
    url = f"{brand.url}/handoffs/{original['id']}"
    for body, field in [
        (handoff(inapp_channel(), sms_channel()), "channels"),
        (handoff(lookbackPeriodDay=0, lookbackPeriodHour=0), "lookbackPeriodDay"),
        (handoff(sms_channel(outboundNumber="12")), "channels.0.outboundNumber"),
        (handoff(skill="nope"), "skill"),
        (handoff(unknown=True), "unknown"),
    ]:
        response = await brand.client.put(url, json=body, headers=brand.admin)
        code = {"skill": 1300, "channels.0.outboundNumber": 1001}.get(field, 1000)
        assert_refused(response, field, error_code=code)
    assert (await brand.client.get(url, headers=brand.admin)).json() == original
