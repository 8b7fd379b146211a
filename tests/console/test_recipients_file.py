"""Reading a CSV of recipients: the file's shape is refused as a whole, each row is checked by
the server's own rules, and the chunks' keys depend only on the file and the chunking."""

from __future__ import annotations

import pytest

from parlay.console.recipients_file import FileRefused, read
from parlay.handoffs.snapshot import ChannelConfig, HandoffSnapshot

HANDOFF = HandoffSnapshot(
    id="H1",
    name="inapp then sms",
    skill=None,
    lookback_seconds=3600,
    route_all_within_lookback=True,
    push_when_logged_in=True,
    push_when_logged_out=False,
    channels=(
        ChannelConfig("inapp", app_ids=("com.acme",), message_text="Hi {{1}}"),
        ChannelConfig("sms", message_text="Hi {{1}}"),
    ),
)


def check(text: str) -> list[tuple[int, str]]:
    checked = read(text.encode(), HANDOFF, skill="general", message=None)
    return [(bad.line, bad.reason) for bad in checked.bad]


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ("consumerId,name", "unknown column 'name'"),
        ("phone,1,1", "column '1' appears twice"),
        ("1,2", "neither consumerId nor phone"),
    ],
)
def test_a_header_that_would_send_the_wrong_thing_refuses_the_file(header: str, why: str) -> None:
    with pytest.raises(FileRefused, match=why):
        check(f"{header}\n")


def test_an_empty_or_non_utf8_file_is_refused() -> None:
    with pytest.raises(FileRefused, match="needs a header row"):
        check("")
    with pytest.raises(FileRefused, match="not UTF-8"):
        read(b"phone,1\n\xff\n", HANDOFF, skill="general", message=None)


def test_each_row_is_checked_with_the_api_schema_and_the_intake() -> None:
    text = (
        "consumerId,phone,1\n"
        "alice,,Ann\n"  # line 2: in-app
        "\n"  # line 3: blank, skipped
        ",+447700900001,Bob\n"  # line 4: SMS
        f"{'x' * 256},,Cy\n"  # line 5: longer than the API takes
        "bob,,\n"  # line 6: no variable
        "alice,,Ann\n"  # line 7: already in line 2
        ",+447700900001\n"  # line 8: two cells
    )
    assert check(text) == [
        (5, "consumerContent.inapp: String should have at most 255 characters"),
        (6, "MISSING_VARIABLE=1"),
        (7, "DUPLICATE_CONSUMER"),
        (8, "2 cells, the header has 3"),
    ]


def test_the_same_file_cut_the_same_way_gives_the_same_keys() -> None:
    text = "phone,1\n" + "".join(f"+4477009{i:05d},n\n" for i in range(5))
    first = read(text.encode(), HANDOFF, skill="general", message=None)
    again = read(text.encode(), HANDOFF, skill="general", message=None)
    other = read((text + "+447700900999,n\n").encode(), HANDOFF, skill="general", message=None)
    assert [len(c) for _, c in first.chunks(2)] == [2, 2, 1]
    assert first.chunk_count(2) == 3
    keys = [first.idempotency_key(2, i) for i in range(3)]
    assert keys == [again.idempotency_key(2, i) for i in range(3)]
    assert len(set(keys)) == 3
    assert other.idempotency_key(2, 0) != keys[0]
    assert first.idempotency_key(3, 0) != keys[0]
