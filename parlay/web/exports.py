"""CSV downloads of the web tool: the Reporting API's rows and column names, streamed a chunk
at a time so memory stays flat however many rows there are."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, TypeVar

from starlette.responses import StreamingResponse

from parlay.web.templating import PAGE_HEADERS

T = TypeVar("T")


async def _lines(
    fields: Sequence[str],
    chunks: AsyncIterator[Iterable[T]] | Iterable[Iterable[T]],
    values: Callable[[T], Sequence[Any]],
) -> AsyncIterator[str]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fields)
    if isinstance(chunks, AsyncIterator):
        async for chunk in chunks:
            writer.writerows(values(item) for item in chunk)
            yield out.getvalue()
            out.seek(0)
            out.truncate()
    else:
        for chunk in chunks:
            writer.writerows(values(item) for item in chunk)
    yield out.getvalue()


def csv_response(
    name: str,
    fields: Sequence[str],
    chunks: AsyncIterator[Iterable[T]] | Iterable[Iterable[T]],
    values: Callable[[T], Sequence[Any]],
) -> StreamingResponse:
    """``chunks`` of rows as ``name.csv``, each row written as ``values(row)``."""
    headers = {
        **{k: v for k, v in PAGE_HEADERS.items() if k != "Content-Security-Policy"},
        "Content-Disposition": f'attachment; filename="{name}.csv"',
    }
    return StreamingResponse(
        _lines(fields, chunks, values), media_type="text/csv; charset=utf-8", headers=headers
    )
