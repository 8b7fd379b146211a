"""The HTTP/2 pool of ``parlay.lib.http.h2curl`` where the APNs and FCM tests do not reach it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import h2.config
import h2.connection
import h2.events
import h2.settings
import pytest
import trustme

from parlay.lib.http.h2curl import ConnectError, ConnectionPool, Response
from tests.fakes.apns import ApnsFake
from tests.fakes.loopback import LOOPBACK_URLS

pytestmark = pytest.mark.anyio


def pool(ca_bundle: str | None, idle_timeout: float = 60) -> ConnectionPool[str]:
    return ConnectionPool(
        urls=LOOPBACK_URLS, ca_bundle=ca_bundle, connect_timeout=5, idle_timeout=idle_timeout
    )


def address(fake: ApnsFake) -> tuple[str, int]:
    host, port = fake.base_url.removeprefix("https://").rsplit(":", 1)
    return host, int(port)


@pytest.fixture
async def http1_only() -> AsyncIterator[tuple[int, str, list[bytes]]]:
    """A TLS server that offers no HTTP/2 (ALPN http/1.1 only): (port, CA path, what it read)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server_context.set_alpn_protocols(["http/1.1"])
    received: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.read(1024))
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    with ca.cert_pem.tempfile() as ca_path:
        yield server.sockets[0].getsockname()[1], ca_path, received
    server.close()
    await server.wait_closed()


async def test_a_server_without_http2_is_refused(
    http1_only: tuple[int, str, list[bytes]],
) -> None:
    port, ca_path, _ = http1_only
    client = pool(ca_path)
    try:
        with pytest.raises(ConnectError):
            await client.request("k", ("127.0.0.1", port), "/", [], b"{}", timeout=5)
    finally:
        await client.close()


async def test_an_untrusted_certificate_is_refused(apns_fake: ApnsFake) -> None:
    client = pool(None)  # the fake's test CA is not in the system's store
    try:
        with pytest.raises(ConnectError, match="certificate"):
            await client.request("k", address(apns_fake), "/3/device/00", [], b"{}", timeout=5)
    finally:
        await client.close()
    assert apns_fake.records == []


async def test_a_new_connections_first_request_goes_alone_until_the_servers_settings(
    apns_fake: ApnsFake,
) -> None:
    """The APNs fake allows one stream until a valid provider token and treats a second one as
    a protocol error: twenty requests at once on a new connection must learn that first."""
    client = pool(apns_fake.ca_bundle)
    try:
        answers = await asyncio.gather(
            *(
                client.request("k", address(apns_fake), f"/3/device/{i:064x}", [], b"{}", timeout=5)
                for i in range(20)
            )
        )
    finally:
        await client.close()

    assert [a.status for a in answers] == [403] * 20  # no provider token: refused, not lost
    assert apns_fake.connections == 1
    assert apns_fake.peak_streams == 1


async def test_an_idle_connection_closes_itself_and_the_next_request_reopens(
    apns_fake: ApnsFake,
) -> None:
    client = pool(apns_fake.ca_bundle, idle_timeout=0.1)
    try:
        first = await client.request("k", address(apns_fake), "/3/device/00", [], b"{}", timeout=5)
        await asyncio.sleep(0.5)
        live_after_idle = len(apns_fake._live)
        second = await client.request("k", address(apns_fake), "/3/device/00", [], b"{}", timeout=5)
    finally:
        await client.close()

    assert (first.status, second.status) == (403, 403)
    assert live_after_idle == 0
    assert apns_fake.connections == 2


@pytest.fixture
async def early_answer() -> AsyncIterator[tuple[int, str]]:
    """An HTTP/2 server with a 100-byte stream window that answers 413 as soon as a request's
    headers arrive, without reading the body (RFC 9113 §8.1 allows it): (port, CA path)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server_context.set_alpn_protocols(["h2"])

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        server.initiate_connection()
        server.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 100})
        writer.write(server.data_to_send())
        while data := await reader.read(65536):
            for event in server.receive_data(data):
                if isinstance(event, h2.events.RequestReceived) and event.stream_id is not None:
                    server.send_headers(event.stream_id, [(":status", "413")], end_stream=True)
            writer.write(server.data_to_send())
        writer.close()

    listener = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_context)
    with ca.cert_pem.tempfile() as ca_path:
        yield listener.sockets[0].getsockname()[1], ca_path
    listener.close()
    await listener.wait_closed()


async def test_an_answer_before_the_whole_body_ends_the_request(
    early_answer: tuple[int, str],
) -> None:
    port, ca_path = early_answer
    client = pool(ca_path)
    try:
        bodies = [b"x" * 4000, b"y" * 50]
        answers = [
            await client.request("k", ("127.0.0.1", port), "/", [], body, timeout=5)
            for body in bodies
        ]
    finally:
        await client.close()

    assert [a.status for a in answers] == [413, 413]


def test_one_header_is_read_without_the_others_and_agrees_with_all_of_them() -> None:
    lines = [b"apns-id: 5A9E-1\r\n", b"Retry-After:  30 \r\n", b"x-empty:\r\n", b"\r\n"]
    answer = Response(429, lines, b"{}")

    found = [answer.header(n) for n in ("apns-id", "retry-after", "x-empty", "missing", "apns")]

    assert found == ["5A9E-1", "30", "", None, None]
    assert answer.headers == {"apns-id": "5A9E-1", "retry-after": "30", "x-empty": ""}
    assert [answer.header(n) for n in ("apns-id", "missing")] == ["5A9E-1", None]  # parsed now
