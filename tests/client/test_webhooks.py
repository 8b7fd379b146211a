"""``parlay.client.webhooks.verify``: the server's signature rule, the replay window and malformed
headers."""

from __future__ import annotations

from parlay.client.webhooks import verify
from parlay.lib.signing import signature

SECRET = "whsec-test"
BODY = b'{"id": "evt_1", "type": "ping"}'
SIGNED_AT = 1_767_225_600


def test_a_signature_made_by_the_server_is_accepted_within_five_minutes() -> None:
    header = signature(SECRET, BODY, SIGNED_AT)
    assert verify(SECRET, BODY, header, now=SIGNED_AT + 300)
    assert verify(SECRET, BODY, header, now=SIGNED_AT - 300)


def test_a_signature_older_or_newer_than_the_tolerance_is_a_replay() -> None:
    header = signature(SECRET, BODY, SIGNED_AT)
    assert not verify(SECRET, BODY, header, now=SIGNED_AT + 301)
    assert not verify(SECRET, BODY, header, now=SIGNED_AT + 3600, tolerance=3599)


def test_malformed_headers_are_refused() -> None:
    good = signature(SECRET, BODY, SIGNED_AT)
    mac = good.partition("v1=")[2]
    for header in (
        "",
        "t=,v1=",
        f"v1={mac}",
        f"t=abc,v1={mac}",
        f"t={SIGNED_AT}",
        f"t={SIGNED_AT},v1=é",
    ):
        assert not verify(SECRET, BODY, header, now=SIGNED_AT), header
