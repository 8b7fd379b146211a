"""The sandbox channel: accepts every send after a configurable delay, or fails as told.

Used by tests, benchmarks and ``make run``'s demo in place of APNs, FCM, Twilio and WhatsApp.
Faults are scripted per address (consumer ID or phone number), in memory or from a JSON file
(``PARLAY_SANDBOX_SCRIPT``) so that separate worker processes obey the same script; every
accepted send can be appended to a JSON-lines log (``PARLAY_SANDBOX_LOG``), one line per send with
``deliveryId``, ``channel``, ``address``, ``pid`` and ``at`` (Unix time). Each line is written
with one ``write(2)`` on an ``O_APPEND`` descriptor before the send is reported accepted, so
processes sharing the file never interleave lines and a process killed right after a send has
already logged it.

Script outcomes, consumed one per attempt (the last one repeats):
``ok`` · ``unavailable`` (503) · ``throttled:<seconds>`` (429 with Retry-After) ·
``timeout`` · ``reject:<reason>`` · ``unregistered`` (dead push token).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from parlay.channels.base import (
    Accepted,
    OutboundMessage,
    Rejected,
    RetryLater,
    SendResult,
    Template,
)
from parlay.delivery.status import ErrorCode, ErrorSource

SOURCE = ErrorSource.SANDBOX


@dataclass(frozen=True)
class SandboxSend:
    delivery_id: int
    channel: str
    address: str
    text: str
    backend_service: str
    at: float  # time.monotonic() when accepted
    wall_time: float  # time.time() when accepted
    template: Template | None = None  # a WhatsApp template, as a provider would get it


class SandboxChannel:
    def __init__(
        self,
        *,
        delay_seconds: float = 0.0,
        script_file: str | None = None,
        log_file: str | None = None,
        keep: int | None = None,
    ) -> None:
        self.delay_seconds = delay_seconds
        # What was accepted and how often each address was tried, for tests to read. ``keep``
        # bounds them for a long-running process (``make run``, and the SMS and WhatsApp
        # fallback of accounts without a provider): ``sent`` holds the newest ``keep`` sends,
        # and only scripted addresses are counted. ``None``: everything (tests).
        self.sent: list[SandboxSend] = []
        self.attempts: dict[str, int] = defaultdict(int)
        self._keep = keep
        self._script: dict[str, list[str]] = {}
        self._log_path = Path(log_file) if log_file else None
        self._log_fd: int | None = None
        self._listeners: list[asyncio.Queue[SandboxSend]] = []
        if script_file:
            self._script.update(json.loads(Path(script_file).read_text()))

    def script(self, address: str, *outcomes: str) -> None:
        """Tell the sandbox how to answer the next sends to ``address``."""
        self._script[address] = list(outcomes)

    def listen(self) -> asyncio.Queue[SandboxSend]:
        """A queue that receives every accepted send from now on (tests, benchmarks)."""
        queue: asyncio.Queue[SandboxSend] = asyncio.Queue()
        self._listeners.append(queue)
        return queue

    def _next_outcome(self, address: str) -> str:
        outcomes = self._script.get(address)
        if not outcomes and self._keep is not None:
            return "ok"
        attempt = self.attempts[address]
        self.attempts[address] = attempt + 1
        if not outcomes:
            return "ok"
        return outcomes[min(attempt, len(outcomes) - 1)]

    async def send(self, message: OutboundMessage) -> SendResult:
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        outcome = self._next_outcome(message.address)
        kind, _, arg = outcome.partition(":")
        if kind == "unavailable":
            return RetryLater(SOURCE, "503 Service Unavailable")
        if kind == "throttled":
            return RetryLater(SOURCE, "429 Too Many Requests", retry_after=float(arg or 1))
        if kind == "timeout":
            await asyncio.sleep(3600)  # the dispatcher's send timeout cuts this short
        if kind == "reject":
            return Rejected(SOURCE, ErrorCode.PROVIDER_REJECTED, arg or "rejected")
        if kind == "unregistered":
            tokens = tuple(t.push_token for t in message.targets)
            return Rejected(SOURCE, ErrorCode.TOKEN_UNREGISTERED, "Unregistered", tokens)
        record = SandboxSend(
            message.delivery_id,
            message.channel,
            message.address,
            message.text,
            message.backend_service,
            time.monotonic(),
            time.time(),
            message.template,
        )
        self.sent.append(record)
        if self._keep is not None and len(self.sent) > 2 * self._keep:
            del self.sent[: -self._keep]  # trimmed in halves: amortised O(1) a send
        for queue in self._listeners:
            queue.put_nowait(record)
        if self._log_path is not None:
            self._append_log(record)
        return Accepted(SOURCE, f"sandbox-{uuid.uuid4().hex}")

    def _append_log(self, record: SandboxSend) -> None:
        line = json.dumps(
            {
                "deliveryId": record.delivery_id,
                "channel": record.channel,
                "address": record.address,
                "pid": os.getpid(),
                "at": record.wall_time,
            }
        )
        if self._log_fd is None:
            assert self._log_path is not None
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            self._log_fd = os.open(self._log_path, flags, 0o644)
        os.write(self._log_fd, (line + "\n").encode())

    async def close(self) -> None:
        if self._log_fd is not None:
            os.close(self._log_fd)
            self._log_fd = None
