"""The bare-HTTP/2 baseline of the in-app target for FCM: how fast can anything push to its fake?

``bare_rate`` sends N ``messages:send`` requests with a plain, minimal HTTP/2 client written for
this benchmark and nothing else: ``h2`` over an asyncio TLS stream, one connection, one access
token fetched beforehand, the same JSON message as Parlay, K sends in flight, the server's stream
limit and flow control respected, one socket write per request; it imports no Parlay code.
``client_rate`` sends the same pushes through ``FcmClient.push``. The fake
(``tests.fakes.fcm``, HTTP/2 over TLS) runs in a process of its own (``fake_fcm_process``).

Runnable: ``python bench/fcm_baseline.py --n 20000 --concurrency 256`` prints both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import h2.config
import h2.connection
import h2.events
import httpx
import jwt

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from apns_baseline import Rate, _read_line, process_cpu_seconds, push_all  # noqa: E402

from parlay.channels.base import Accepted  # noqa: E402
from parlay.channels.fcm import FcmClient  # noqa: E402
from parlay.channels.push import FcmCredentials, PushApp, PushNotification  # noqa: E402
from parlay.lib.http.urls import UrlPolicy  # noqa: E402

STARTUP_TIMEOUT = 30.0
LOOPBACK = UrlPolicy(allow_private=True)  # the fake listens on 127.0.0.1
PROJECT_ID = "parlay-bench"
FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


@dataclass(frozen=True)
class FakeFcm:
    """A running FCM fake and a service account it trusts."""

    url: str
    ca_bundle: str
    account: dict[str, Any]
    pid: int = 0

    @property
    def credentials(self) -> FcmCredentials:
        return FcmCredentials(self.account, self.url)

    @property
    def app(self) -> PushApp:
        return PushApp("bench", "com.bench.app", "android", "fcm", fcm=self.credentials)

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid)


def fcm_token(i: int) -> str:
    return f"bench-fcm-{i:08d}:APA91b{i:012d}"


def notes(n: int) -> Iterator[PushNotification]:
    """N distinct pushes to N distinct Android devices (what a campaign sends)."""
    expires_at = datetime.now(UTC) + timedelta(hours=1)
    for i in range(n):
        yield PushNotification(
            push_message_id=f"bench-{i}",
            token=fcm_token(i),
            platform="android",
            message="Your order shipped. Reply to chat with us.",
            title="Acme",
            backend_service="prmsg",
            lookback_seconds=3600,
            expires_at=expires_at,
            campaign_info={"campaignId": "bench", "engagementId": "bench"},
        )


async def _run(
    n: int,
    concurrency: int,
    send: Callable[[PushNotification], Awaitable[bool]],
    fake: FakeFcm | None = None,
) -> Rate:
    return await push_all(notes(n), n, concurrency, send, fake)


async def access_token(fake: FakeFcm) -> str:
    """One OAuth access token (JWT-bearer grant), fetched before the clock starts."""
    account = fake.account
    now = int(time.time())
    assertion = jwt.encode(
        {
            "iss": account["client_email"],
            "scope": FCM_SCOPE,
            "aud": account["token_uri"],
            "iat": now,
            "exp": now + 3600,
        },
        account["private_key"],
        algorithm="RS256",
        headers={"kid": account["private_key_id"]},
    )
    form = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    context = ssl.create_default_context(cafile=fake.ca_bundle)
    async with httpx.AsyncClient(verify=context) as http:
        response = await http.post(account["token_uri"], data=form)
    response.raise_for_status()
    return str(response.json()["access_token"])


def _bare_body(note: PushNotification) -> bytes:
    """The messages:send body of one push, built the plainest way (what Parlay sends)."""
    data = {
        "pushMessageId": note.push_message_id,
        "message": note.message,
        "backendService": note.backend_service,
        "lookBackPeriod": str(note.lookback_seconds),
        "campaignInfo": json.dumps(note.campaign_info, separators=(",", ":")),
        "title": note.title or "",
    }
    message = {
        "token": note.token,
        "data": data,
        "android": {"priority": "HIGH", "ttl": f"{note.lookback_seconds}s"},
    }
    return json.dumps({"message": message}, separators=(",", ":"), ensure_ascii=False).encode()


async def bare_rate(fake: FakeFcm, n: int, concurrency: int) -> float:
    """Sends/s of the bare raw-h2 client: one connection, one token, no result mapping."""
    return (await measure("bare", fake, n, concurrency)).per_second


async def client_rate(fake: FakeFcm, n: int, concurrency: int) -> float:
    """Sends/s of ``FcmClient.push`` at the same concurrency."""
    return (await measure("client", fake, n, concurrency)).per_second


async def measure(kind: str, fake: FakeFcm, n: int, concurrency: int) -> Rate:
    runs = {"bare": _bare, "client": _client}
    return await runs[kind](fake, n, concurrency)


async def _bare(fake: FakeFcm, n: int, concurrency: int) -> Rate:
    """A minimal raw-h2 client: h2's defaults, asyncio streams, a socket write per request,
    waiting only where HTTP/2 says to (the server's stream limit, the flow-control windows)."""
    token = await access_token(fake)
    url = urlsplit(fake.url)
    host, port = url.hostname or "", url.port or 443
    path = f"/v1/projects/{fake.account['project_id']}/messages:send"
    context = ssl.create_default_context(cafile=fake.ca_bundle)
    context.set_alpn_protocols(["h2"])
    reader, writer = await asyncio.open_connection(host, port, ssl=context)
    connection = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    connection.initiate_connection()
    writer.write(connection.data_to_send())
    answers: dict[int, asyncio.Future[int]] = {}
    statuses: dict[int, int] = {}
    window_opened = asyncio.Event()
    settings_changed = asyncio.Event()

    async def read() -> None:
        while data := await reader.read(65536):
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    headers = dict(cast(list[tuple[str, str]], event.headers))
                    statuses[event.stream_id] = int(headers[":status"])
                elif isinstance(event, h2.events.DataReceived):
                    connection.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, h2.events.StreamEnded):
                    answers.pop(event.stream_id).set_result(statuses.pop(event.stream_id, 0))
                elif isinstance(event, h2.events.WindowUpdated):
                    window_opened.set()
                elif isinstance(event, h2.events.RemoteSettingsChanged):
                    settings_changed.set()
            writer.write(connection.data_to_send())

    reading = asyncio.create_task(read())
    authority = f"{host}:{port}"
    authorization = f"Bearer {token}"

    async def send(note: PushNotification) -> bool:
        async with streams:
            body = _bare_body(note)
            stream_id = connection.get_next_available_stream_id()
            request = [
                (":method", "POST"),
                (":scheme", "https"),
                (":authority", authority),
                (":path", path),
                ("authorization", authorization),
                ("content-type", "application/json"),
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
        limit = connection.remote_settings.max_concurrent_streams
        streams = asyncio.Semaphore(min(concurrency, limit))
        await _run(1, 1, send)
        return await _run(n, concurrency, send, fake)
    finally:
        reading.cancel()
        writer.close()


async def _client(fake: FakeFcm, n: int, concurrency: int) -> Rate:
    client = FcmClient(urls=LOOPBACK, ca_bundle=fake.ca_bundle)
    app = fake.app
    try:

        async def send(note: PushNotification) -> bool:
            return isinstance(await client.push(app, note), Accepted)

        await _run(1, 1, send)  # the access token and the connection, before the clock
        return await _run(n, concurrency, send, fake)
    finally:
        await client.close()


# --- the FCM fake in a process of its own ----------------------------------------------------


async def _serve_fcm(workdir: str) -> None:
    """Child process: the FCM fake over TLS; prints its URL, CA and a service account it trusts,
    and stops when stdin closes (the parent ended or died)."""
    from tests.fakes.fcm import FcmFake
    from tests.fakes.loopback import loopback_tls

    context, ca_path = loopback_tls(Path(workdir))
    fake = FcmFake(ssl_context=context, ca_bundle=ca_path)
    await fake.start()
    account = fake.service_account(project_id=PROJECT_ID)
    print(json.dumps({"url": fake.url, "ca_bundle": ca_path, "account": account}), flush=True)
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_reader(sys.stdin.fileno(), lambda: None if sys.stdin.read(1) else stopped.set())
    await stopped.wait()
    await fake.stop()


@contextmanager
def fake_fcm_process() -> Iterator[FakeFcm]:
    with tempfile.TemporaryDirectory(prefix="fcm-bench-") as workdir:
        process = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--serve-fcm", workdir],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            started = json.loads(_read_line(process, STARTUP_TIMEOUT))
            yield FakeFcm(started["url"], started["ca_bundle"], started["account"], process.pid)
        finally:
            assert process.stdin is not None
            process.stdin.close()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _serve(workdir: str) -> None:
    try:
        import uvloop  # the fake should not be the bottleneck of a benchmark
    except ImportError:
        asyncio.run(_serve_fcm(workdir))
    else:
        uvloop.run(_serve_fcm(workdir))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-fcm":
        _serve(sys.argv[2])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="sends per run")
    parser.add_argument("--concurrency", type=int, default=256, help="sends in flight")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs; best counts")
    arguments = parser.parse_args()
    rates: dict[str, list[Rate]] = {"bare": [], "client": []}
    with fake_fcm_process() as fake:
        for _ in range(arguments.rounds):
            for kind in rates:
                rates[kind].append(
                    asyncio.run(measure(kind, fake, arguments.n, arguments.concurrency))
                )
    best = {kind: max(r.per_second for r in runs) for kind, runs in rates.items()}
    print(
        f"FCM fake (HTTP/2, TLS), {arguments.n} sends, {arguments.concurrency} in flight, "
        f"best of {arguments.rounds}"
    )
    for kind, label in (("bare", "bare raw-h2 client"), ("client", "FcmClient.push")):
        cpu = min(r.cpu_us for r in rates[kind])
        fake_cpu = min(r.fake_cpu_us for r in rates[kind])
        print(
            f"  {label:20} {best[kind]:7,.0f} sends/s {cpu:6,.0f} µs CPU/send, "
            f"fake {fake_cpu:4,.0f} µs"
        )
    print(f"  FcmClient / bare: {best['client'] / best['bare']:.0%}")


if __name__ == "__main__":
    main()
