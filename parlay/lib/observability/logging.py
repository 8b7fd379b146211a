"""Structured logs (JSON by default) with context bound per request or per job."""

from __future__ import annotations

import json as stdlib_json
import logging
import sys
from typing import Any

import orjson
import structlog


def _dumps(event: Any, **options: Any) -> bytes:
    """One log line as JSON bytes: orjson (a dispatching worker writes a line per delivery; the
    standard library's encoder made each line take twice as long), the standard library's
    for what orjson refuses (an integer beyond 64 bits, a key that is not a string)."""
    try:
        return orjson.dumps(event, **options)
    except TypeError:
        return stdlib_json.dumps(event, **options).encode()


def _dumps_text(event: Any, **options: Any) -> str:
    return _dumps(event, **options).decode()


def configure_logging(level: str = "INFO", *, json: bool = True) -> None:
    """Configure structlog and route the standard library's logs through the same renderer."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    # The standard library's loggers go through a formatter, which wants text: the same JSON.
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps_text)
        if json
        else structlog.dev.ConsoleRenderer()
    )
    stream = getattr(sys.stderr, "buffer", None)
    if json and stream is not None:
        # structlog's own loggers write bytes straight to stderr's buffer.
        own: structlog.types.Processor = structlog.processors.JSONRenderer(serializer=_dumps)
        factory: Any = structlog.BytesLoggerFactory(stream)
    else:
        own, factory = renderer, structlog.PrintLoggerFactory(sys.stderr)
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, own],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=factory,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn's own access log duplicates ours (which carries the request id).
    logging.getLogger("uvicorn.access").disabled = True
    # Alembic narrates every step at INFO; an operator needs only its warnings.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger(name)
    return logger
