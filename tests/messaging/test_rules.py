"""The SMS and WhatsApp rules that need no database: segment counting, the per-sender pace,
STOP and START, what a provider's answer or callback makes of a delivery, webhook signatures."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from parlay.channels.base import OutboundMessage, Rejected, RetryLater
from parlay.channels.pacing import SenderPacer
from parlay.channels.providers import TwilioAccount, WhatsAppAccount
from parlay.channels.sandbox import SandboxChannel
from parlay.channels.segments import count_segments
from parlay.channels.twilio import TwilioChannel, validity_seconds
from parlay.channels.whatsapp import WhatsAppChannel, in_window
from parlay.delivery.origins import OutboundPayload
from parlay.delivery.status import DeliveryStatus, ErrorCode
from parlay.messaging.webhooks import keyword, meta_notification, meta_signed, twilio_report
from tests.fakes.loopback import LOOPBACK_URLS
from tests.fakes.whatsapp import meta_signature

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "encoding", "count"),
    [
        ("", "GSM-7", 1),
        ("a" * 160, "GSM-7", 1),
        ("a" * 161, "GSM-7", 2),  # 153 per part once split
        ("a" * 306, "GSM-7", 2),
        ("a" * 307, "GSM-7", 3),
        ("€" * 80, "GSM-7", 1),  # the extension table: two septets each
        ("€" * 81, "GSM-7", 2),
        ("Ça coûte 42 €", "UCS-2", 1),  # û is not GSM
        ("😀" * 35, "UCS-2", 1),  # astral: two UTF-16 units each
        ("😀" * 36, "UCS-2", 2),  # 67 per part once split
        ("ж" * 134, "UCS-2", 2),
        ("ж" * 135, "UCS-2", 3),
    ],
)
def test_segments_follow_the_encoding_of_the_text(text: str, encoding: str, count: int) -> None:
    segments = count_segments(text)
    assert (segments.encoding, segments.count) == (encoding, count)


def test_a_sender_gets_one_slot_per_1_over_rate_and_a_far_slot_is_not_reserved() -> None:
    now = [100.0]
    pacer = SenderPacer(max_wait=1.0, monotonic=lambda: now[0])
    assert [pacer.reserve("+1555", 4) for _ in range(5)] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert pacer.reserve("+1555", 4) == -1.25  # too far: not reserved, the wait instead
    assert pacer.reserve("+1666", 4) == 0.0  # another sender has its own pace
    now[0] += 2
    assert pacer.reserve("+1555", 4) == 0.0


@pytest.mark.parametrize(
    ("text", "word"),
    [("STOP", "STOP"), (" stop\n", "STOP"), ("Unsubscribe", "STOP"), ("quit", "STOP"),
     ("StopAll", "STOP"), ("start", "START"), ("YES", "START"), ("unstop", "START"),
     ("stop it", None), ("please stop", None), ("yes please", None)],
)  # fmt: skip
def test_stop_and_start_words_count_only_alone(text: str, word: str | None) -> None:
    assert keyword(text) == word


def test_twilio_callbacks_map_to_statuses_and_21610_to_opted_out() -> None:
    assert twilio_report({"MessageStatus": "queued"}) is None
    assert twilio_report({"MessageStatus": "sending"}) is None
    report = twilio_report({"MessageStatus": "delivered"})
    assert report is not None
    assert report.status == DeliveryStatus.DELIVERED
    failed = twilio_report({"MessageStatus": "undelivered", "ErrorCode": "30003"})
    assert failed is not None
    assert (failed.status, failed.error_code, failed.provider_code) == (
        DeliveryStatus.FAILED,
        ErrorCode.PROVIDER_REJECTED,
        "30003",
    )
    stopped = twilio_report({"SmsStatus": "failed", "ErrorCode": "21610"})
    assert stopped is not None
    assert stopped.error_code == ErrorCode.OPTED_OUT
    odd = twilio_report({"MessageStatus": "failed", "ErrorCode": "<script>"})
    assert odd is not None
    assert odd.provider_code is None  # only a code ever reaches the delivery


def test_validity_is_what_is_left_of_the_lookback_within_twilios_bounds() -> None:
    assert validity_seconds(NOW + timedelta(seconds=90), NOW) == 90
    assert validity_seconds(NOW + timedelta(days=30), NOW) == 36_000
    assert validity_seconds(NOW, NOW) == 1


def test_the_whatsapp_window_is_24_hours_from_the_last_inbound_message() -> None:
    assert not in_window(None, NOW)
    assert in_window(NOW - timedelta(hours=23, minutes=59), NOW)
    assert not in_window(NOW - timedelta(hours=24), NOW)


def test_a_meta_signature_vouches_only_for_its_body_and_secret() -> None:
    body = b'{"entry":[]}'
    assert meta_signed("s3cret", body, meta_signature("s3cret", body))
    assert not meta_signed("s3cret", body + b" ", meta_signature("s3cret", body))
    assert not meta_signed("other", body, meta_signature("s3cret", body))
    assert not meta_signed("s3cret", body, meta_signature("s3cret", body).replace("sha256", "sha1"))


class _Accounts:
    def __init__(self) -> None:
        self.opted_out: list[str] = []

    async def twilio(self, account_id: str) -> TwilioAccount | None:
        return None

    async def whatsapp(self, account_id: str) -> WhatsAppAccount | None:
        return None

    async def last_inbound(self, account_id: str, phone: str) -> datetime | None:
        return None

    async def opt_out(self, account_id: str, phone: str) -> None:
        self.opted_out.append(phone)


def _message() -> OutboundMessage:
    payload = OutboundPayload("1", "hello", "prmsg", 3600, None)
    return OutboundMessage(1, "acme", "sms", payload, None, "+12025550123", NOW, 1)


@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "retry_after"),
    [
        (400, {"code": 21611}, RetryLater, None, 60.0),  # the sender's queue is full: back off
        (400, {"code": 30001}, RetryLater, None, 60.0),
        (429, {"code": 20429}, RetryLater, None, None),
        (503, {}, RetryLater, None, None),
        (400, {"code": 21211}, Rejected, ErrorCode.INVALID_NUMBER, None),
        (400, {"code": 21610}, Rejected, ErrorCode.OPTED_OUT, None),
        (401, {"code": 20003}, Rejected, ErrorCode.PROVIDER_REJECTED, None),
        (201, {"status": "queued"}, RetryLater, None, None),  # no sid: cannot be tracked
    ],
)
async def test_twilios_answers_decide_retry_or_refusal(
    status: int,
    body: dict[str, object],
    kind: type,
    code: ErrorCode | None,
    retry_after: float | None,
) -> None:
    accounts = _Accounts()
    channel = TwilioChannel(accounts, SandboxChannel(), urls=LOOPBACK_URLS, public_url=None)
    result = await channel._result(httpx.Response(status, json=body), _message())
    assert isinstance(result, kind)
    if isinstance(result, Rejected):
        assert result.code == code
        assert result.message == f"Twilio error {body['code']}"  # the code, never Twilio's words
    if isinstance(result, RetryLater):
        assert result.retry_after == retry_after
    assert accounts.opted_out == (["+12025550123"] if body.get("code") == 21610 else [])


@pytest.mark.parametrize(
    ("status", "code", "kind", "error"),
    [
        (429, 130429, RetryLater, None),
        (400, 131056, RetryLater, None),
        (500, 1, RetryLater, None),
        (400, 131026, Rejected, ErrorCode.INVALID_NUMBER),
        (401, 190, Rejected, ErrorCode.PROVIDER_REJECTED),
        (400, 132001, Rejected, ErrorCode.PROVIDER_REJECTED),
    ],
)
async def test_metas_error_codes_decide_retry_or_refusal(
    status: int, code: int, kind: type, error: ErrorCode | None
) -> None:
    channel = WhatsAppChannel(_Accounts(), SandboxChannel(), urls=LOOPBACK_URLS)
    result = channel._result(httpx.Response(status, json={"error": {"code": code}}))
    assert isinstance(result, kind)
    if isinstance(result, Rejected):
        assert (result.code, result.message) == (error, f"WhatsApp error {code}")


async def test_an_account_without_credentials_is_served_by_the_sandbox() -> None:
    sandbox = SandboxChannel()
    channel = TwilioChannel(_Accounts(), sandbox, urls=LOOPBACK_URLS, public_url=None)
    result = await channel.send(_message())
    assert [s.address for s in sandbox.sent] == ["+12025550123"]
    assert result.source == "sandbox"


class _Connected(_Accounts):
    """An account whose provider endpoint refuses connections (nothing listens there)."""

    def __init__(self, endpoint: str, *, from_number: str | None = "+14155550199") -> None:
        super().__init__()
        self.endpoint = endpoint
        self.from_number = from_number

    async def twilio(self, account_id: str) -> TwilioAccount | None:
        return TwilioAccount("AC" + "1" * 32, "t" * 32, self.from_number, None, 1.0, self.endpoint)

    async def whatsapp(self, account_id: str) -> WhatsAppAccount | None:
        return WhatsAppAccount("1065", "token", "secret", "verify", endpoint=self.endpoint)


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def test_unreachable_providers_are_retried_and_a_missing_sender_is_refused() -> None:
    endpoint = _closed_port()
    sms = TwilioChannel(_Connected(endpoint), SandboxChannel(), urls=LOOPBACK_URLS, public_url=None)
    assert isinstance(await sms.send(_message()), RetryLater)
    await sms.close()
    nobody = TwilioChannel(
        _Connected(endpoint, from_number=None),
        SandboxChannel(),
        urls=LOOPBACK_URLS,
        public_url=None,
    )
    refused = await nobody.send(_message())
    assert isinstance(refused, Rejected)
    assert refused.message == "no sender: set fromNumber"
    wa = WhatsAppChannel(_Connected(endpoint), SandboxChannel(), urls=LOOPBACK_URLS)
    # No window (the number never wrote) and no template: refused before any request.
    closed = await wa.send(_message())
    assert isinstance(closed, Rejected)
    assert "24-hour window" in closed.message
    await wa.close()


async def test_a_sender_over_its_pace_is_retried_later_without_a_request() -> None:
    pacer = SenderPacer(max_wait=0.5, monotonic=lambda: 0.0)
    sms = TwilioChannel(
        _Connected(_closed_port()),
        SandboxChannel(),
        urls=LOOPBACK_URLS,
        public_url=None,
        pacer=pacer,
    )
    pacer.reserve("AC" + "1" * 32 + ":+14155550199", 1.0)  # the next slot is a second away
    result = await sms.send(_message())
    assert isinstance(result, RetryLater)
    assert result.retry_after == 1.0


def test_meta_notifications_keep_what_they_understand() -> None:
    doc = {
        "entry": [
            "not an entry",
            {"changes": [{"value": None}, {"value": {"statuses": [{"status": "deleted"}]}}]},
            {
                "changes": [
                    {
                        "value": {
                            "messages": [
                                {"from": "15550100", "id": "w1", "type": "image"},
                                {"from": "15550100", "id": "w2", "type": "button",
                                 "button": {"text": "Yes"}},
                                {"from": "not digits", "id": "w3", "type": "text"},
                            ]
                        }
                    }
                ]
            },
        ]
    }  # fmt: skip
    parsed = meta_notification(doc)
    assert [(s.report, s.delivery_id) for s in parsed.statuses] == [(None, None)]
    assert [(m.phone, m.text) for m in parsed.messages] == [
        ("+15550100", "[image]"),
        ("+15550100", "Yes"),
    ]
    assert meta_notification([]).messages == []


def test_a_whatsapp_template_carries_the_consumers_header_media_and_body_variables() -> None:
    from parlay.channels.base import Template
    from parlay.channels.whatsapp import message_body

    template = Template("renewal", "en_US", {"1": "Ada"}, {"image": "https://cdn.example/a.png"})
    message = _message()._replace(channel="wa", template=template)
    body = message_body(message, window_open=False)
    assert body is not None
    assert body["template"]["components"] == [
        {
            "type": "header",
            "parameters": [{"type": "image", "image": {"link": "https://cdn.example/a.png"}}],
        },
        {"type": "body", "parameters": [{"type": "text", "text": "Ada"}]},
    ]
