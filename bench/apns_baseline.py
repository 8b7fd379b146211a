"""The bare-HTTP/2 baseline of SPEC §14 row 2: how fast can anything push to the APNs fake?

``bare_rate`` sends N pushes with the least code that still does what APNs needs (one httpx
HTTP/2 connection, one pre-minted provider token, the same headers and payload as Parlay,
K sends in flight) and returns pushes per second. ``client_rate`` does the same through
``ApnsClient.push``; ``raw_h2_rate`` through a hand-written ``h2`` client without httpx (the
ceiling of Python HTTP/2). The dispatcher benchmark compares Parlay's full path against
``bare_rate`` (``fake_apns_process`` starts the fake for it). ``measure`` also gives this
process's CPU time per push: on a busy machine the rate wanders, the CPU cost much less.

Runnable: ``python bench/apns_baseline.py --n 20000 --concurrency 256`` starts the fake in a
process of its own (so it does not share a core with the clients) and prints all three.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import h2.config
import h2.connection
import h2.events
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from parlay.channels.apns import ApnsClient, apns_id, apns_payload  # noqa: E402
from parlay.channels.base import Accepted  # noqa: E402
from parlay.channels.http import make_client, tls_context  # noqa: E402
from parlay.channels.push import ApnsCredentials, PushApp, PushNotification  # noqa: E402

TEAM_ID = "BENCHTEAM1"
KEY_ID = "BENCHKEY01"
TOPIC = "com.bench.app"
STARTUP_TIMEOUT = 30.0


@dataclass(frozen=True)
class Rate:
    per_second: float
    cpu_us: float  # this process's CPU time per push (the client's cost, the fake excluded)


@dataclass(frozen=True)
class FakeApns:
    """A running APNs fake and an app it trusts."""

    base_url: str
    ca_bundle: str
    app: PushApp


def notes(n: int) -> Iterator[PushNotification]:
    """N distinct pushes to N distinct device tokens (what a campaign sends)."""
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    for i in range(n):
        yield PushNotification(
            push_message_id=f"bench-{i}",
            token=secrets.token_hex(32),
            platform="ios",
            message="Your order shipped. Reply to chat with us.",
            title="Acme",
            backend_service="prmsg",
            lookback_seconds=3600,
            expires_at=expires_at,
            campaign_info={"campaignId": "bench", "engagementId": "bench"},
        )


async def _run(
    n: int, concurrency: int, send: Callable[[PushNotification], Awaitable[bool]]
) -> Rate:
    """Push N notes through ``send`` with ``concurrency`` in flight; pushes/s (all must pass)."""
    pending = notes(n)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for note in pending:
            if not await send(note):
                failures += 1

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if failures:
        raise RuntimeError(f"{failures} of {n} pushes were not accepted")
    return Rate(n / elapsed, cpu / n * 1e6)


def _provider_token(fake: FakeApns) -> str:
    credentials = fake.app.apns
    assert credentials is not None
    return jwt.encode(
        {"iss": credentials.team_id, "iat": int(time.time())},
        credentials.private_key_pem,
        algorithm="ES256",
        headers={"kid": credentials.key_id},
    )


def _apns_headers(fake: FakeApns, note: PushNotification, token: str) -> dict[str, str]:
    """The headers ApnsClient sends, built the plainest way."""
    return {
        "authorization": f"bearer {token}",
        "apns-topic": fake.app.app_id,
        "apns-push-type": "alert",
        "apns-priority": "10",
        "apns-expiration": str(int(note.expires_at.timestamp())),
        "apns-id": apns_id(note.push_message_id),
    }


async def bare_rate(fake: FakeApns, n: int, concurrency: int) -> float:
    """Pushes/s of a bare httpx HTTP/2 client: one connection, one token, no result mapping."""
    return (await measure("bare", fake, n, concurrency)).per_second


async def client_rate(fake: FakeApns, n: int, concurrency: int) -> float:
    """Pushes/s of ``ApnsClient.push`` at the same concurrency."""
    return (await measure("client", fake, n, concurrency)).per_second


async def raw_h2_rate(fake: FakeApns, n: int, concurrency: int) -> float:
    """Pushes/s of a hand-written client on ``h2`` and asyncio streams, without httpx."""
    return (await measure("raw_h2", fake, n, concurrency)).per_second


async def measure(kind: str, fake: FakeApns, n: int, concurrency: int) -> Rate:
    """Rate and CPU cost of one kind of client: ``bare``, ``client`` or ``raw_h2``."""
    runs = {"bare": _bare, "client": _client, "raw_h2": _raw_h2}
    return await runs[kind](fake, n, concurrency)


async def _bare(fake: FakeApns, n: int, concurrency: int) -> Rate:
    token = _provider_token(fake)
    async with make_client(http2=True, ca_bundle=fake.ca_bundle, max_connections=1) as client:

        async def send(note: PushNotification) -> bool:
            response = await client.post(
                f"{fake.base_url}/3/device/{note.token}",
                content=apns_payload(note),
                headers=_apns_headers(fake, note, token),
            )
            return response.status_code == 200

        await _run(1, 1, send)  # connect, and let the fake raise the stream limit
        return await _run(n, concurrency, send)


async def _raw_h2(fake: FakeApns, n: int, concurrency: int) -> Rate:
    """One connection with flow control and the server's stream limit, nothing more."""
    token = _provider_token(fake)
    host, port = fake.base_url.removeprefix("https://").rsplit(":", 1)
    context = tls_context(fake.ca_bundle)
    context.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
    connection = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    connection.initiate_connection()
    writer.write(connection.data_to_send())
    answers: dict[int, asyncio.Future[int]] = {}
    window_opened = asyncio.Event()

    async def read() -> None:
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    headers = dict(cast(list[tuple[str, str]], event.headers))
                    answers.pop(event.stream_id).set_result(int(headers[":status"]))
                elif isinstance(event, h2.events.DataReceived):
                    connection.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, h2.events.WindowUpdated):
                    window_opened.set()
            writer.write(connection.data_to_send())

    reading = asyncio.create_task(read())
    streams = asyncio.Semaphore(1)  # until the server raises its limit

    async def send(note: PushNotification) -> bool:
        async with streams:
            body = apns_payload(note)
            stream_id = connection.get_next_available_stream_id()
            request = [
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", f"{host}:{port}"),
                (":path", f"/3/device/{note.token}"),
                *_apns_headers(fake, note, token).items(),
            ]
            answer = answers[stream_id] = asyncio.get_running_loop().create_future()
            connection.send_headers(stream_id, request)
            while connection.local_flow_control_window(stream_id) < len(body):
                window_opened.clear()
                writer.write(connection.data_to_send())
                await window_opened.wait()
            connection.send_data(stream_id, body, end_stream=True)
            writer.write(connection.data_to_send())
            status: int = await answer
            return status == 200

    try:
        await _run(1, 1, send)
        limit = connection.remote_settings.max_concurrent_streams
        streams = asyncio.Semaphore(min(concurrency, limit))
        return await _run(n, concurrency, send)
    finally:
        reading.cancel()
        writer.close()


async def _client(fake: FakeApns, n: int, concurrency: int) -> Rate:
    client = ApnsClient(ca_bundle=fake.ca_bundle)
    try:

        async def send(note: PushNotification) -> bool:
            return isinstance(await client.push(fake.app, note), Accepted)

        await _run(1, 1, send)
        return await _run(n, concurrency, send)
    finally:
        await client.close()


@contextmanager
def fake_apns_process() -> Iterator[FakeApns]:
    """Start ``tests.fakes.apns`` in its own process with a fresh signing key registered."""
    private = ec.generate_private_key(ec.SECP256R1())
    with tempfile.TemporaryDirectory(prefix="apns-bench-") as workdir:
        public_path = Path(workdir) / "key.pub.pem"
        public_path.write_bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.fakes.apns", "--workdir", workdir, "--exit-on-stdin-eof"]
            + ["--app", f"{TEAM_ID}:{KEY_ID}:{TOPIC}:{public_path}"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert process.stdout is not None
            line = _read_line(process, STARTUP_TIMEOUT)
            started = json.loads(line)
            pem = private.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            credentials = ApnsCredentials(TEAM_ID, KEY_ID, pem, endpoint=started["base_url"])
            app = PushApp("bench", TOPIC, "ios", "apns", apns=credentials)
            yield FakeApns(started["base_url"], started["ca_bundle"], app)
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _read_line(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise RuntimeError("the APNs fake did not start in time")
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the APNs fake exited with {process.wait()}")
    return line


async def compare(fake: FakeApns, n: int, concurrency: int, rounds: int) -> dict[str, Rate]:
    """Alternating runs of each kind; the best rate and the lowest CPU cost of each."""
    kinds = ("bare", "client", "raw_h2")
    runs: dict[str, list[Rate]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind in kinds:
            runs[kind].append(await measure(kind, fake, n, concurrency))
    return {
        kind: Rate(max(r.per_second for r in rates), min(r.cpu_us for r in rates))
        for kind, rates in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="pushes per run")
    parser.add_argument("--concurrency", type=int, default=256, help="sends in flight")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs; best counts")
    parser.add_argument("--uvloop", action="store_true", help="run the clients on uvloop")
    arguments = parser.parse_args()
    with fake_apns_process() as fake:
        run = compare(fake, arguments.n, arguments.concurrency, arguments.rounds)
        if arguments.uvloop:
            import uvloop

            rates = uvloop.run(run)
        else:
            rates = asyncio.run(run)
    share = rates["client"].per_second / rates["bare"].per_second
    print(
        f"APNs fake, {arguments.n} pushes, {arguments.concurrency} in flight, one connection, "
        f"best of {arguments.rounds}"
    )
    for kind, label, note in (
        ("bare", "bare httpx HTTP/2 client", ""),
        ("client", "ApnsClient.push", f"  ({share:.0%} of bare's rate)"),
        ("raw_h2", "raw h2 (no httpx)", ""),
    ):
        rate = rates[kind]
        print(
            f"  {label:24} {rate.per_second:7,.0f} pushes/s {rate.cpu_us:6,.0f} µs CPU/push{note}"
        )


if __name__ == "__main__":
    main()
