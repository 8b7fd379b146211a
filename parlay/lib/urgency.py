"""Urgent work first: an IVR caller is waiting while a campaign is being sent.

Urgent work (an eligibility check, an invite on its way to the provider) marks itself with
``urgent()``; background work (a campaign's claims, sends and status writes) calls
``yield_to_urgent()`` before each step, and waits while urgent work is in progress, at most
``max_wait`` at a time so that a stuck urgent step can never stall the background for long. On
SQLite this is what lets the invite's transactions take the one writer next.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

# The longest background work waits for urgent work on its way, each time it yields.
MAX_YIELD_SECONDS = 0.25


class Urgency:
    def __init__(self, max_wait: float = MAX_YIELD_SECONDS) -> None:
        self._max_wait = max_wait
        self._calm = asyncio.Event()
        self._calm.set()
        self._requests = 0
        self._busy: set[str] = set()

    @contextlib.contextmanager
    def urgent(self) -> Iterator[None]:
        """Urgent work runs inside this block: background work holds back meanwhile."""
        self._requests += 1
        self._update()
        try:
            yield
        finally:
            self._requests -= 1
            self._update()

    def set_busy(self, who: str, busy: bool) -> None:
        """Urgent work that spans several steps (a queued invite until it is handed to its
        provider) says when it starts and when it is done."""
        if busy:
            self._busy.add(who)
        else:
            self._busy.discard(who)
        self._update()

    @property
    def is_calm(self) -> bool:
        return self._calm.is_set()

    async def yield_to_urgent(self) -> None:
        """Wait while urgent work is in progress (at most ``max_wait``)."""
        if not self._calm.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._max_wait):
                    await self._calm.wait()

    def _update(self) -> None:
        if self._requests or self._busy:
            self._calm.clear()
        else:
            self._calm.set()
