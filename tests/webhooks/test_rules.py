"""The pure rules of status webhooks: which subscription wants which event, and the backoff."""

from __future__ import annotations

import random

import pytest

from parlay.dispatch.webhooks import backoff_seconds
from parlay.webhooks.events import DELIVERY_TYPES, matches, unknown_patterns


@pytest.mark.parametrize(
    ("patterns", "event_type", "wanted"),
    [
        (["delivery.*"], "delivery.sent", True),
        (["delivery.*"], "conversation.closed", False),
        (["delivery.read"], "delivery.read", True),
        (["delivery.read"], "delivery.sent", False),
        (["conversation.*", "delivery.failed"], "delivery.failed", True),
        (["conversation.*"], "ping", False),
    ],
)
def test_a_subscription_wants_the_types_it_names_and_their_families(
    patterns: list[str], event_type: str, wanted: bool
) -> None:
    assert matches(patterns, event_type) is wanted


def test_unknown_event_types_are_named() -> None:
    assert unknown_patterns(["delivery.*", "delivery.sent", "ping", "delivery.bogus", "*"]) == [
        "ping",
        "delivery.bogus",
        "*",
    ]
    assert "delivery.conversation_closed" in DELIVERY_TYPES


def test_backoff_doubles_from_the_base_with_jitter_in_its_upper_half_and_stops_at_the_cap() -> None:
    rng = random.Random(1)
    for failures, full in ((1, 10), (2, 20), (3, 40), (9, 2560), (10, 3600), (60, 3600)):
        waits = [backoff_seconds(failures, 10, 3600, rng) for _ in range(50)]
        assert all(full / 2 <= w <= full for w in waits), (failures, min(waits), max(waits))
        assert len(set(waits)) > 1  # jittered
