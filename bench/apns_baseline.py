"""The bare-HTTP/2 baseline of the in-app target: how fast can anything push to the APNs fake?

``bare_rate`` sends N pushes with a plain, minimal HTTP/2 client written for this benchmark and
nothing else: ``h2`` over an asyncio TLS stream, one connection, one pre-minted provider token,
the same headers and JSON payload as Parlay, K sends in flight, the server's stream limit and
flow control respected, one socket write per request; it imports no Parlay code. ``client_rate``
sends the same pushes through ``ApnsClient.push``; ``httpx_rate`` through one httpx HTTP/2
connection (the baseline before the APNs client moved to ``h2``). The dispatcher benchmark
compares Parlay's full path against ``bare_rate`` (``fake_apns_process`` starts the fake for
it). ``measure`` also gives this process's CPU time per push and the fake's: on a busy machine
the rate wanders, the CPU cost much less.

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
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol, cast

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
from parlay.channels.push import ApnsCredentials, PushApp, PushNotification  # noqa: E402
from parlay.lib.http.client import make_client  # noqa: E402
from parlay.lib.http.urls import UrlPolicy  # noqa: E402

TEAM_ID = "BENCHTEAM1"
KEY_ID = "BENCHKEY01"
TOPIC = "com.bench.app"
STARTUP_TIMEOUT = 30.0
LOOPBACK = UrlPolicy(allow_private=True)  # the fake listens on 127.0.0.1
# The bare client derives apns-id as Parlay does (uuid5 of the delivery ID in this namespace),
# so both send the same requests; the value is Parlay's APNS_ID_NAMESPACE.
BARE_ID_NAMESPACE = uuid.UUID("6f1b7c3e-2a44-5d8e-9c1a-0b5e4f7d2a91")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Rate:
    per_second: float
    cpu_us: float  # this process's CPU time per push (the client's cost, the fake excluded)
    fake_cpu_us: float = float("nan")  # the fake process's CPU time per push


@dataclass(frozen=True)
class FakeApns:
    """A running APNs fake and an app it trusts."""

    base_url: str
    ca_bundle: str
    app: PushApp
    pid: int = 0  # the fake's process

    def cpu_seconds(self) -> float:
        """CPU time the fake's process has used so far (user + system)."""
        return process_cpu_seconds(self.pid)


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process, from /proc (nan elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


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


class _HasCpu(Protocol):
    def cpu_seconds(self) -> float: ...


async def push_all(
    pending: Iterable[PushNotification],
    n: int,
    concurrency: int,
    send: Callable[[PushNotification], Awaitable[bool]],
    fake: _HasCpu | None = None,
) -> Rate:
    """Push the ``n`` notes of ``pending`` through ``send`` with ``concurrency`` in flight;
    pushes/s, and the CPU per push of this process and of the fake (all must be accepted)."""
    pending = iter(pending)
    failures = 0

    async def worker() -> None:
        nonlocal failures
        for note in pending:
            if not await send(note):
                failures += 1

    fake_cpu = fake.cpu_seconds() if fake else float("nan")
    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    fake_cpu = (fake.cpu_seconds() if fake else float("nan")) - fake_cpu
    if failures:
        raise RuntimeError(f"{failures} of {n} pushes were not accepted")
    return Rate(n / elapsed, cpu / n * 1e6, fake_cpu / n * 1e6)


async def _run(
    n: int,
    concurrency: int,
    send: Callable[[PushNotification], Awaitable[bool]],
    fake: FakeApns | None = None,
) -> Rate:
    return await push_all(notes(n), n, concurrency, send, fake)


def _provider_token(fake: FakeApns) -> str:
    credentials = fake.app.apns
    assert credentials is not None
    return jwt.encode(
        {"iss": credentials.team_id, "iat": int(time.time())},
        credentials.private_key_pem,
        algorithm="ES256",
        headers={"kid": credentials.key_id},
    )


async def bare_rate(fake: FakeApns, n: int, concurrency: int) -> float:
    """Pushes/s of the bare raw-h2 client: one connection, one token, no result mapping."""
    return (await measure("bare", fake, n, concurrency)).per_second


async def client_rate(fake: FakeApns, n: int, concurrency: int) -> float:
    """Pushes/s of ``ApnsClient.push`` at the same concurrency."""
    return (await measure("client", fake, n, concurrency)).per_second


async def httpx_rate(fake: FakeApns, n: int, concurrency: int) -> float:
    """Pushes/s of one httpx HTTP/2 connection (what ApnsClient used before ``h2``)."""
    return (await measure("httpx", fake, n, concurrency)).per_second


async def measure(kind: str, fake: FakeApns, n: int, concurrency: int) -> Rate:
    """Rate and CPU cost of one kind of client: ``bare``, ``client`` or ``httpx``."""
    runs = {"bare": _bare, "client": _client, "httpx": _httpx}
    return await runs[kind](fake, n, concurrency)


def _bare_request(
    note: PushNotification, topic: str, token: str
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Path, headers and body of one push, built the plainest way (what Parlay sends)."""
    alert = {"title": note.title, "body": note.message} if note.title else {"body": note.message}
    body = {
        "aps": {"alert": alert, "sound": "default"},
        "pushMessageId": note.push_message_id,
        "message": note.message,
        "backendService": note.backend_service,
        "lookBackPeriod": note.lookback_seconds,
        "campaignInfo": note.campaign_info,
    }
    headers = [
        ("authorization", f"bearer {token}"),
        ("apns-topic", topic),
        ("apns-push-type", "alert"),
        ("apns-priority", "10"),
        ("apns-expiration", str(int(note.expires_at.timestamp()))),
        ("apns-id", str(uuid.uuid5(BARE_ID_NAMESPACE, note.push_message_id))),
    ]
    payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
    return f"/3/device/{note.token}", headers, payload


async def _bare(fake: FakeApns, n: int, concurrency: int) -> Rate:
    """A minimal raw-h2 client: h2's defaults, asyncio streams, a socket write per request,
    waiting only where HTTP/2 says to (the server's stream limit, the flow-control windows)."""
    token = _provider_token(fake)
    topic = fake.app.app_id
    host, port = fake.base_url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=fake.ca_bundle)
    context.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(host, int(port), ssl=context)
    connection = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    connection.initiate_connection()
    writer.write(connection.data_to_send())
    answers: dict[int, asyncio.Future[int]] = {}
    window_opened = asyncio.Event()
    settings_changed = asyncio.Event()

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
                elif isinstance(event, h2.events.RemoteSettingsChanged):
                    settings_changed.set()
            writer.write(connection.data_to_send())

    reading = asyncio.create_task(read())
    streams = asyncio.Semaphore(1)  # until the server raises its limit

    async def send(note: PushNotification) -> bool:
        async with streams:
            path, headers, body = _bare_request(note, topic, token)
            stream_id = connection.get_next_available_stream_id()
            request = [
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", f"{host}:{port}"),
                (":path", path),
                *headers,
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
        await settings_changed.wait()  # the server's preface: its stream limit
        await _run(1, 1, send)  # the first valid token makes the fake raise its limit
        limit = connection.remote_settings.max_concurrent_streams
        streams = asyncio.Semaphore(min(concurrency, limit))
        return await _run(n, concurrency, send, fake)
    finally:
        reading.cancel()
        writer.close()


async def _httpx(fake: FakeApns, n: int, concurrency: int) -> Rate:
    """One httpx HTTP/2 connection, one token, the same requests built with Parlay's helpers."""
    token = _provider_token(fake)
    async with make_client(
        urls=LOOPBACK, http2=True, ca_bundle=fake.ca_bundle, max_connections=1
    ) as client:

        async def send(note: PushNotification) -> bool:
            response = await client.post(
                f"{fake.base_url}/3/device/{note.token}",
                content=apns_payload(note),
                headers={
                    "authorization": f"bearer {token}",
                    "apns-topic": fake.app.app_id,
                    "apns-push-type": "alert",
                    "apns-priority": "10",
                    "apns-expiration": str(int(note.expires_at.timestamp())),
                    "apns-id": apns_id(note.push_message_id),
                },
            )
            return response.status_code == 200

        await _run(1, 1, send)  # connect, and let the fake raise the stream limit
        return await _run(n, concurrency, send, fake)


async def _client(fake: FakeApns, n: int, concurrency: int) -> Rate:
    client = ApnsClient(urls=LOOPBACK, ca_bundle=fake.ca_bundle)
    try:

        async def send(note: PushNotification) -> bool:
            return isinstance(await client.push(fake.app, note), Accepted)

        await _run(1, 1, send)
        return await _run(n, concurrency, send, fake)
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
            [
                sys.executable,
                "-m",
                "tests.fakes.apns",
                "--workdir",
                workdir,
                "--exit-on-stdin-eof",
                "--app",
                f"{TEAM_ID}:{KEY_ID}:{TOPIC}:{public_path}",
            ],
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
            yield FakeApns(started["base_url"], started["ca_bundle"], app, process.pid)
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
    kinds = ("bare", "client", "httpx")
    runs: dict[str, list[Rate]] = {kind: [] for kind in kinds}
    for _ in range(rounds):
        for kind in kinds:
            runs[kind].append(await measure(kind, fake, n, concurrency))
    return {
        kind: Rate(
            max(r.per_second for r in rates),
            min(r.cpu_us for r in rates),
            min(r.fake_cpu_us for r in rates),
        )
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
        ("bare", "bare raw-h2 client", ""),
        ("client", "ApnsClient.push", f"  ({share:.0%} of bare's rate)"),
        ("httpx", "httpx HTTP/2 client", ""),
    ):
        rate = rates[kind]
        print(
            f"  {label:22} {rate.per_second:7,.0f} pushes/s {rate.cpu_us:6,.0f} µs CPU/push, "
            f"fake {rate.fake_cpu_us:4,.0f} µs{note}"
        )


if __name__ == "__main__":
    main()
