"""Sends per second per sender: a message goes out no sooner than ``1/rate`` after the previous
one of its sender, so a provider's queue for that sender never grows (Twilio queues what a
number cannot send at once, refuses new messages once that queue holds 10 hours, 21611, and
fails queued ones, 30001). One pacer per process: several workers each keep their own pace,
so a sender's rate is to be divided by the worker count."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class SenderPacer:
    def __init__(
        self, *, max_wait: float = 5.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._next: dict[str, float] = {}
        self._max_wait = max_wait
        self._monotonic = monotonic

    def reserve(self, sender: str, per_second: float) -> float:
        """Reserve the sender's next slot: seconds to wait for it. A slot further away than
        ``max_wait`` is not reserved: the answer is then negative, minus that wait (the caller
        retries later rather than holding a dispatcher slot that long)."""
        now = self._monotonic()
        at = max(now, self._next.get(sender, now))
        wait = at - now
        if wait > self._max_wait:
            return -wait
        self._next[sender] = at + 1.0 / per_second
        if len(self._next) > 10_000:  # forget senders idle for a while
            self._next = {k: v for k, v in self._next.items() if v > now}
        return wait

    async def slot(self, sender: str, per_second: float) -> float | None:
        """Wait for the sender's next slot; None when it is too far away (the wait instead)."""
        wait = self.reserve(sender, per_second)
        if wait < 0:
            return -wait
        if wait > 0:
            await asyncio.sleep(wait)
        return None
