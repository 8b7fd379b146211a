"""A campaign's recipients in a CSV file: read, checked row by row with the rules the server
applies (the API's consumer schema, then the campaign intake against the handoff), and cut into
chunks whose idempotency keys derive from the file's content, so that sending the same file again
sends nothing twice.

The file has a header row. Columns: ``consumerId`` (the in-app consumer ID), ``phone`` (a number
for the handoff's SMS and WhatsApp channels, ``+`` optional) and one column per template variable,
named by its number (``1``, ``2``, ...). An empty cell is a value not given.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter, ValidationError

from parlay.api.schemas.outbound import ConsumerIn
from parlay.campaigns.intake import ConsumerEntry, ConsumerIntake
from parlay.handoffs.snapshot import HandoffSnapshot

ID_COLUMN, PHONE_COLUMN = "consumerId", "phone"
_consumer_schema: TypeAdapter[ConsumerIn] = TypeAdapter(ConsumerIn)


class FileRefused(Exception):
    """The file as a whole cannot be read (no header, an unknown column, not UTF-8)."""


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass
class RecipientsFile:
    """The checked file: its digest, the consumers to send in file order with their line, and
    the rows refused."""

    digest: str
    consumers: list[ConsumerEntry] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    rows: int = 0

    def chunks(self, size: int) -> Iterator[tuple[int, list[ConsumerEntry]]]:
        for index, start in enumerate(range(0, len(self.consumers), size)):
            yield index, self.consumers[start : start + size]

    def chunk_count(self, size: int) -> int:
        return -(-len(self.consumers) // size)

    def idempotency_key(self, size: int, index: int) -> str:
        """The same file cut the same way gives the same keys: a re-run replays, never resends."""
        return f"csv-{self.digest[:40]}-{size}-{index}"


def _columns(header: Sequence[str]) -> list[str]:
    columns = [name.strip() for name in header]
    for name in columns:
        if name in (ID_COLUMN, PHONE_COLUMN):
            continue
        if not (name.isascii() and name.isdigit()):
            raise FileRefused(
                f"unknown column {name!r}: the columns are {ID_COLUMN}, {PHONE_COLUMN} and the "
                "variables' numbers (1, 2, ...)"
            )
    duplicated = sorted({name for name in columns if columns.count(name) > 1})
    if duplicated:
        raise FileRefused(f"column {duplicated[0]!r} appears twice")
    if ID_COLUMN not in columns and PHONE_COLUMN not in columns:
        raise FileRefused(f"the header names neither {ID_COLUMN} nor {PHONE_COLUMN}")
    return columns


def consumer_of(row: Mapping[str, str]) -> dict[str, Any]:
    """A row as the API's consumer: ``consumerContent.inapp``, the number in the legacy form
    (the server puts it on each of the handoff's phone channels), ``variables``."""
    consumer: dict[str, Any] = {}
    consumer_id, phone = row.get(ID_COLUMN, ""), row.get(PHONE_COLUMN, "")
    if consumer_id:
        consumer["consumerContent"] = {"inapp": consumer_id}
    if phone:
        consumer["consumerPhoneNumber"] = phone
    variables = {
        name: value
        for name, value in row.items()
        if name not in (ID_COLUMN, PHONE_COLUMN) and value
    }
    if variables:
        consumer["variables"] = variables
    return consumer


def _schema_problem(error: ValidationError) -> str:
    first = error.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "row"
    return f"{where}: {first['msg']}"


def read(
    data: bytes, handoff: HandoffSnapshot, *, skill: str, message: str | None
) -> RecipientsFile:
    """Check every row of ``data`` as the server would take it for ``handoff``."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileRefused(f"not UTF-8 (byte {exc.start})") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise FileRefused("the file is empty: it needs a header row")
    columns = _columns(header)
    # The server's own intake, with the handoff the campaign will use: its duplicate check
    # spans the whole file, as one campaign's would.
    intake = ConsumerIntake(
        account_id="",
        campaign_id="",
        handoff=handoff,
        skill=skill,
        message_text=message,
        now=datetime.now(UTC),
        list_accepted=False,
    )
    checked = RecipientsFile(hashlib.sha256(data).hexdigest())
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        checked.rows += 1
        if len(cells) != len(columns):
            checked.bad.append(BadRow(line, f"{len(cells)} cells, the header has {len(columns)}"))
            continue
        consumer = consumer_of(
            {name: cell.strip() for name, cell in zip(columns, cells, strict=True)}
        )
        try:
            entry: ConsumerEntry = _consumer_schema.validate_python(consumer)
        except ValidationError as exc:
            checked.bad.append(BadRow(line, _schema_problem(exc)))
            continue
        refusal = intake.refusal(entry)
        if refusal is not None:
            checked.bad.append(BadRow(line, refusal))
            continue
        checked.consumers.append(entry)
        checked.lines.append(line)
    return checked
