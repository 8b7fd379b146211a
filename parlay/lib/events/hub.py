"""The live-event hub: fans events out to the streams of agents and consumers.

In one process subscribers hang off a ``MemoryHub``. With ``PARLAY_REDIS_URL`` set a
``RedisHub`` carries every event through Redis pub/sub, so an agent connected to one replica
hears a consumer who wrote through another.

Live events are best-effort by design: the database is the source of truth. Whenever a stream
may have lost events (its buffer overflowed, or the Redis connection dropped) the subscriber gets
one ``stream.overflow`` event and reloads its state; it never silently skips events.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import uuid
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from parlay.lib.observability.logging import get_logger

log = get_logger("parlay.lib.events")

# _STUBS: redis ships its own type hints, but leaves ``aclose()`` and ``PubSub.connect()``
# unannotated; the ignores below are for those calls.

Event = dict[str, Any]

# A subscriber that may have missed events gets this ``type`` (with a ``reason``) and reloads.
OVERFLOW = "stream.overflow"
DEFAULT_BUFFER_SIZE = 1_000
DEFAULT_CHANNEL_PREFIX = "parlay:ev:"


class Subscription(Protocol):
    """The events of one subscriber, in publishing order (per topic)."""

    def __aiter__(self) -> AsyncIterator[Event]: ...

    async def get(self, timeout: float | None = None) -> Event | None:  # noqa: ASYNC109
        """The next event; None on timeout or once the subscription has ended."""
        ...


class EventHub(Protocol):
    async def publish(self, topics: Sequence[str], event: Event) -> None:
        """Deliver once to every subscriber of any of the topics. Raises if the transport is
        down: the caller logs it and carries on (the database already has the change)."""
        ...

    def subscribe(self, topics: Sequence[str]) -> AbstractAsyncContextManager[Subscription]:
        """Listen to the topics while the context is open; events published after entering
        reach the subscription."""
        ...

    async def listened(self, topics: Sequence[str]) -> set[str]:
        """Which of the topics have a subscriber now, anywhere: a publisher of many events
        that are only worth something to a listener (a campaign's sent messages) builds and
        publishes only those. A subscriber that arrives just after may miss one; raises like
        ``publish`` if the transport is down."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


def stamped(event: Event) -> Event:
    """The event with an ``eventId`` (kept if the publisher chose one): the SSE ``id`` and the
    key that delivers an event published to several topics once."""
    if "eventId" in event:
        return dict(event)
    return {**event, "eventId": uuid.uuid4().hex}


def overflow_event(reason: str) -> Event:
    return {"type": OVERFLOW, "reason": reason}


class BufferedSubscription:
    """One subscriber's bounded buffer, so a slow reader never holds up publishers or others.

    On overflow the buffered events are dropped for one ``stream.overflow`` event, and nothing
    more is kept until the reader has taken it: the reader reloads state anyway, and a reader
    that has stopped reading costs no memory beyond its buffer.
    """

    # Events published to several topics arrive once per topic from Redis; these are close
    # together, so remembering the last few hundred ids is enough to deliver each once.
    _SEEN = 512

    def __init__(self, topics: frozenset[str], size: int, *, dedupe: bool = False) -> None:
        if size < 1:
            raise ValueError("a subscription buffer holds at least one event")
        self.topics = topics
        self._size = size
        self._events: deque[Event] = deque()
        self._ready = asyncio.Event()
        self._overflowed = False
        self._closed = False
        self._seen: OrderedDict[str, None] | None = OrderedDict() if dedupe else None

    @property
    def closed(self) -> bool:
        return self._closed

    def deliver(self, event: Event) -> None:
        """Never blocks: called by the publisher (memory) or the one Redis listener."""
        if self._closed or self._duplicate(event) or self._overflowed:
            return
        if len(self._events) >= self._size:
            self.resync("buffer")
            return
        self._events.append(event)
        self._ready.set()

    def resync(self, reason: str) -> None:
        """Events may have been lost: drop what is buffered and tell the reader to reload."""
        if self._closed:
            return
        self._events.clear()
        self._events.append(overflow_event(reason))
        self._overflowed = True
        self._ready.set()

    def close(self) -> None:
        self._closed = True
        self._events.clear()
        self._ready.set()

    def _duplicate(self, event: Event) -> bool:
        if self._seen is None:
            return False
        event_id = event.get("eventId")
        if not isinstance(event_id, str):
            return False
        if event_id in self._seen:
            return True
        self._seen[event_id] = None
        if len(self._seen) > self._SEEN:
            self._seen.popitem(last=False)
        return False

    async def get(self, timeout: float | None = None) -> Event | None:  # noqa: ASYNC109
        if not self._events and not self._closed:
            self._ready.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._ready.wait()
            except TimeoutError:
                return None
        if not self._events:
            return None
        event = self._events.popleft()
        if event.get("type") == OVERFLOW:
            self._overflowed = False
        return event

    async def __aiter__(self) -> AsyncIterator[Event]:
        while (event := await self.get()) is not None:
            yield event


def _encode(event: Event) -> str:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


class MemoryHub:
    """One process: publishing hands each subscriber the event directly."""

    def __init__(self, *, buffer_size: int = DEFAULT_BUFFER_SIZE) -> None:
        self._buffer_size = buffer_size
        self._topics: dict[str, set[BufferedSubscription]] = {}
        self._closed = False

    async def start(self) -> None:
        """Nothing to connect."""

    async def publish(self, topics: Sequence[str], event: Event) -> None:
        targets: set[BufferedSubscription] = set()
        for topic in topics:
            targets.update(self._topics.get(topic, ()))
        if not targets:
            # Nobody listens (the common case for a campaign's sends): no encoding at all.
            return
        # Through JSON, as with Redis: an event that would not cross processes fails here too,
        # and subscribers never share the publisher's dict.
        delivered = json.loads(_encode(stamped(event)))
        for subscription in targets:
            subscription.deliver(delivered)

    @asynccontextmanager
    async def subscribe(self, topics: Sequence[str]) -> AsyncIterator[Subscription]:
        if self._closed:
            raise RuntimeError("the event hub is closed")
        subscription = BufferedSubscription(frozenset(topics), self._buffer_size)
        for topic in subscription.topics:
            self._topics.setdefault(topic, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscription.close()
            for topic in subscription.topics:
                subscribers = self._topics.get(topic)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._topics[topic]

    def subscribers(self, topic: str) -> int:
        """How many subscriptions listen to the topic (for tests and metrics)."""
        return len(self._topics.get(topic, ()))

    async def listened(self, topics: Sequence[str]) -> set[str]:
        return {topic for topic in topics if topic in self._topics}

    async def close(self) -> None:
        """Ends every open subscription (their streams finish)."""
        self._closed = True
        for subscribers in self._topics.values():
            for subscription in subscribers:
                subscription.close()
        self._topics.clear()


class RedisHub:
    """Many processes: events go through Redis pub/sub, one channel per topic.

    Each process holds one publishing client and one pub/sub connection shared by all its
    subscribers: a channel is SUBSCRIBEd when its first local subscriber appears and
    UNSUBSCRIBEd when its last leaves. Local subscribers hear local events through Redis too,
    so every subscriber of a topic sees the same order.

    One listener task reads the connection. If it drops, the listener reconnects with capped,
    jittered backoff, subscribes every current channel again and sends each subscriber a
    ``stream.overflow`` (reason ``reconnect``): events published meanwhile are lost to them.
    Publishing does not wait for the listener; it raises only when Redis cannot be reached.
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_CHANNEL_PREFIX,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        timeout: float = 2.0,
        confirm_timeout: float = 5.0,
        ping_interval: float = 30.0,
        backoff: tuple[float, float] = (0.05, 5.0),
        client_name: str | None = None,
    ) -> None:
        self._url = url
        self._prefix = prefix
        self._buffer_size = buffer_size
        self._timeout = timeout
        self._confirm_timeout = confirm_timeout
        self._ping_interval = ping_interval
        self._backoff = backoff
        # Named, so an operator (or a test) can tell this process's pub/sub connection apart.
        self.client_name = client_name or f"parlay-events-{os.getpid()}"

        self._publisher: aioredis.Redis | None = None
        self._listener_client: aioredis.Redis | None = None
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: PubSub | None = None  # the listener's current connection, None while down
        self._remote: set[str] = set()  # channels SUBSCRIBEd on that connection
        self._channels: dict[str, set[BufferedSubscription]] = {}  # channel -> local subscribers
        self._commands = asyncio.Lock()  # one writer at a time on the pub/sub connection
        self._connected = asyncio.Event()
        self._lost = False  # the connection failed and subscribers have not been told yet
        self._resync_token: str | None = None
        # PING tokens awaiting their PONG: True when answered, False when the connection fell.
        self._barriers: dict[str, asyncio.Future[bool]] = {}
        self._syncs: set[asyncio.Task[None]] = set()
        self._closed = False

    def _channel(self, topic: str) -> str:
        return self._prefix + topic

    async def start(self) -> None:
        """Starts the listener; it connects in the background, so a Redis that is down at boot
        does not stop the process (its streams stay quiet until Redis is back)."""
        if self._closed:
            raise RuntimeError("the event hub is closed")
        if self._listener is not None:
            return
        # One immediate retry covers a pooled connection Redis has closed since its last use.
        self._publisher = aioredis.Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 1),
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
        )
        # No retries inside redis-py: the listener reconnects itself, with backoff.
        self._listener_client = aioredis.Redis.from_url(
            self._url,
            retry=Retry(NoBackoff(), 0),
            socket_connect_timeout=self._timeout,
            socket_timeout=self._timeout,
            client_name=self.client_name,
        )
        self._listener = asyncio.get_running_loop().create_task(
            self._listen(), name="parlay-events-redis-listener"
        )

    async def publish(self, topics: Sequence[str], event: Event) -> None:
        await self.start()
        assert self._publisher is not None
        payload = _encode(stamped(event))
        channels = list(dict.fromkeys(self._channel(t) for t in topics))
        if len(channels) == 1:
            await self._publisher.publish(channels[0], payload)
        elif channels:
            async with self._publisher.pipeline(transaction=False) as pipe:
                for channel in channels:
                    pipe.publish(channel, payload)
                await pipe.execute()

    @asynccontextmanager
    async def subscribe(self, topics: Sequence[str]) -> AsyncIterator[Subscription]:
        await self.start()
        channels = frozenset(self._channel(t) for t in topics)
        subscription = BufferedSubscription(channels, self._buffer_size, dedupe=len(channels) > 1)
        for channel in channels:
            self._channels.setdefault(channel, set()).add(subscription)
        try:
            if channels:
                await self._confirm()
            yield subscription
        finally:
            subscription.close()
            emptied = False
            for channel in channels:
                subscribers = self._channels.get(channel)
                if subscribers is not None:
                    subscribers.discard(subscription)
                    if not subscribers:
                        del self._channels[channel]
                        emptied = True
            if emptied:
                # In a task of its own: the subscriber's task may be cancelled (the client went
                # away), and under anyio a cancelled scope cancels every await in it again.
                self._sync_soon()

    def subscribers(self, topic: str) -> int:
        """How many subscriptions of this process listen to the topic (for tests and metrics)."""
        return len(self._channels.get(self._channel(topic), ()))

    async def listened(self, topics: Sequence[str]) -> set[str]:
        """Asked of Redis in one command (``PUBSUB NUMSUB``): every process's subscribers."""
        if not topics:
            return set()
        await self.start()
        assert self._publisher is not None
        by_channel = {self._channel(topic): topic for topic in topics}
        counts = await self._publisher.pubsub_numsub(*by_channel)
        heard = set()
        for channel, count in counts:
            name = channel.decode() if isinstance(channel, bytes) else channel
            if count and name in by_channel:
                heard.add(by_channel[name])
        return heard

    async def close(self) -> None:
        """Ends every subscription, stops the listener and closes both connections."""
        self._closed = True
        for subscribers in self._channels.values():
            for subscription in subscribers:
                subscription.close()
        self._channels.clear()
        await _stop([*self._syncs, *([self._listener] if self._listener else [])])
        self._listener = None
        for client in (self._publisher, self._listener_client):
            if client is not None:
                await client.aclose()
        self._publisher = self._listener_client = None

    # --- keeping the connection's channels in step with the local subscribers ---------------

    async def _confirm(self) -> None:
        """Wait until Redis has the subscriber's channels, so nothing published after
        ``subscribe`` returns is missed. A PING behind the SUBSCRIBE proves it: Redis answers
        in order. While Redis is down this gives up after ``confirm_timeout``; the reconnect
        will then tell the subscriber to reload."""
        try:
            async with asyncio.timeout(self._confirm_timeout):
                await self._connected.wait()
                token = uuid.uuid4().hex
                answered: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
                self._barriers[token] = answered
                try:
                    async with self._commands:
                        if self._pubsub is None:
                            answered.set_result(False)
                        else:
                            await self._sync(self._pubsub)
                            await self._pubsub.ping(token)
                    if await answered:
                        return
                finally:
                    self._barriers.pop(token, None)
            reason = "Redis connection lost"
        except (TimeoutError, aioredis.RedisError, OSError) as exc:
            reason = str(exc) or type(exc).__name__
        log.warning("live events: subscribed without Redis confirming", error=reason)

    async def _sync(self, pubsub: PubSub) -> None:
        """SUBSCRIBE and UNSUBSCRIBE the difference; the caller holds ``_commands``. Computing
        the difference (rather than replaying requests) keeps any interleaving of subscribers
        joining and leaving correct."""
        wanted = set(self._channels)
        added, removed = wanted - self._remote, self._remote - wanted
        if added:
            await pubsub.subscribe(*sorted(added))
            self._remote |= added
        if removed:
            await pubsub.unsubscribe(*sorted(removed))
            self._remote -= removed

    def _sync_soon(self) -> None:
        if self._closed:
            return
        task = asyncio.get_running_loop().create_task(self._sync_now())
        self._syncs.add(task)
        task.add_done_callback(self._syncs.discard)

    async def _sync_now(self) -> None:
        try:
            async with self._commands:
                if self._pubsub is not None:
                    await self._sync(self._pubsub)
        except (aioredis.RedisError, OSError):
            # The listener reconnects and then subscribes only the channels still wanted.
            log.debug("live events: could not unsubscribe", exc_info=True)

    # --- the listener ------------------------------------------------------------------------

    async def _listen(self) -> None:
        assert self._listener_client is not None
        low, high = self._backoff
        delay = low
        while not self._closed:
            pubsub = self._listener_client.pubsub()
            try:
                await pubsub.connect()  # type: ignore[no-untyped-call]  # see _STUBS
                async with self._commands:
                    self._pubsub, self._remote = pubsub, set()
                    await self._sync(pubsub)
                    if self._lost:
                        # Subscribers are told to reload once Redis has the channels again (the
                        # PONG comes after the SUBSCRIBE replies), so their reload misses nothing.
                        self._resync_token = f"resync-{uuid.uuid4().hex}"
                        await pubsub.ping(self._resync_token)
                self._connected.set()
                delay = low
                await self._read(pubsub)
            except (aioredis.RedisError, OSError) as exc:
                if not self._lost:
                    log.warning("live events: Redis connection lost, reconnecting", error=str(exc))
                self._lost = True
            finally:
                await self._disconnect(pubsub)
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))  # noqa: S311 - jitter only
            delay = min(delay * 2, high)

    async def _read(self, pubsub: PubSub) -> None:
        """Deliver messages until the connection fails. A silent connection is probed with a
        PING, so one that died without a word (a lost network) is noticed too."""
        probing = False
        while True:
            wait = self._confirm_timeout if probing else self._ping_interval
            message = await pubsub.get_message(timeout=wait)
            if message is None:
                if probing:
                    raise aioredis.ConnectionError("Redis did not answer a PING")
                probing = True
                async with self._commands:
                    await pubsub.ping("probe")
                continue
            probing = False
            self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "message":
            channel = _text(message["channel"])
            subscribers = self._channels.get(channel)
            if not subscribers:
                return  # the last local subscriber left; its UNSUBSCRIBE is on its way
            try:
                event = json.loads(message["data"])
            except ValueError:
                log.warning("live events: dropped a message that is not JSON", channel=channel)
                return
            if not isinstance(event, dict):
                return
            for subscription in list(subscribers):
                subscription.deliver(event)
        elif kind == "pong":
            token = _text(message["data"])
            if token == self._resync_token:
                self._resynced()
            answered = self._barriers.pop(token, None)
            if answered is not None and not answered.done():
                answered.set_result(True)

    def _resynced(self) -> None:
        log.info("live events: Redis connection restored")
        self._lost, self._resync_token = False, None
        for subscribers in list(self._channels.values()):
            for subscription in subscribers:
                subscription.resync("reconnect")

    async def _disconnect(self, pubsub: PubSub) -> None:
        self._connected.clear()
        async with self._commands:
            if self._pubsub is pubsub:
                self._pubsub, self._remote = None, set()
        for token in list(self._barriers):
            answered = self._barriers.pop(token)
            if not answered.done():
                answered.set_result(False)
        with contextlib.suppress(aioredis.RedisError, OSError):
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # see _STUBS


async def _stop(tasks: Sequence[asyncio.Task[None]]) -> None:
    """Cancel the tasks and wait for them to end. Cancelling again is needed: on Python 3.11
    ``asyncio.wait_for`` (which redis-py uses while connecting) can swallow a cancellation."""
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        if not task.cancelled() and task.exception() is not None:
            log.warning("live events: a task failed", exc_info=task.exception())


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def build_hub(redis_url: str | None, *, buffer_size: int = DEFAULT_BUFFER_SIZE) -> EventHub:
    """Redis when ``PARLAY_REDIS_URL`` is set (events cross processes), else in memory."""
    if not redis_url:
        return MemoryHub(buffer_size=buffer_size)
    scheme, sep, _ = redis_url.partition("://")
    if not sep or scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"PARLAY_REDIS_URL must be redis://, rediss:// or unix://: {redis_url!r}")
    return RedisHub(redis_url, buffer_size=buffer_size)
