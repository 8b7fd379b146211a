"""The HTTP/2 connection of ``parlay.lib.http.h2conn`` where the APNs tests do not reach it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from parlay.lib.http.client import tls_context
from parlay.lib.http.h2conn import ConnectError, Http2Connection, Unavailable
from tests.fakes.apns import ApnsFake
from tests.fakes.loopback import LOOPBACK_URLS

pytestmark = pytest.mark.anyio


def client_context(ca_bundle: str) -> ssl.SSLContext:
    context = tls_context(ca_bundle)
    context.set_alpn_protocols(["h2"])
    return context


@pytest.fixture
async def http1_only(tmp_path: object) -> AsyncIterator[tuple[int, str]]:
    """A TLS server that offers no HTTP/2 (no ALPN): (port, CA bundle path)."""
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server_context.set_alpn_protocols(["http/1.1"])

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    with ca.cert_pem.tempfile() as ca_path:
        yield server.sockets[0].getsockname()[1], ca_path
    server.close()
    await server.wait_closed()


async def test_a_server_without_http2_is_refused(http1_only: tuple[int, str]) -> None:
    port, ca_path = http1_only

    with pytest.raises(ConnectError, match="ALPN"):
        await Http2Connection.open(
            "127.0.0.1",
            port,
            urls=LOOPBACK_URLS,
            ssl_context=client_context(ca_path),
            connect_timeout=5,
        )


async def test_an_untrusted_certificate_is_refused(apns_fake: ApnsFake) -> None:
    context = ssl.create_default_context()  # the fake's test CA is not in the system store
    context.set_alpn_protocols(["h2"])
    host, port = apns_fake.base_url.removeprefix("https://").rsplit(":", 1)

    with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await Http2Connection.open(
            host, int(port), urls=LOOPBACK_URLS, ssl_context=context, connect_timeout=5
        )


async def test_the_servers_stream_limit_is_known_before_the_first_request(
    apns_fake: ApnsFake,
) -> None:
    host, port = apns_fake.base_url.removeprefix("https://").rsplit(":", 1)
    connection = await Http2Connection.open(
        host,
        int(port),
        urls=LOOPBACK_URLS,
        ssl_context=client_context(apns_fake.ca_bundle),
        connect_timeout=5,
    )
    try:
        assert connection.max_concurrent_streams == 1  # APNs's limit before a valid token
        assert connection.usable
    finally:
        connection.close()

    assert not connection.usable
    with pytest.raises(Unavailable):
        await connection.request(b"POST", b"/3/device/00", [], b"{}")


async def test_an_idle_connection_closes_itself(apns_fake: ApnsFake) -> None:
    host, port = apns_fake.base_url.removeprefix("https://").rsplit(":", 1)
    connection = await Http2Connection.open(
        host,
        int(port),
        urls=LOOPBACK_URLS,
        ssl_context=client_context(apns_fake.ca_bundle),
        connect_timeout=5,
        idle_timeout=0.1,
    )
    answer = await connection.request(b"GET", b"/", [])
    assert answer.status == 405
    assert connection.usable

    await asyncio.sleep(0.5)

    assert not connection.usable


def test_request_header_blocks_decode_to_the_fields_sent_also_after_a_table_resize() -> None:
    from hpack import Decoder, NeverIndexedHeaderTuple

    from parlay.lib.http.h2conn import _Encoder

    encoder, decoder = _Encoder(), Decoder()
    fields = [
        (b":method", b"POST"),
        (b":scheme", b"https"),
        (b":authority", b"api.push.apple.com"),
        NeverIndexedHeaderTuple(b":path", b"/3/device/" + b"ab" * 32),
        NeverIndexedHeaderTuple(b"authorization", b"bearer " + b"x" * 300),
        (b"apns-topic", b"com.example.app"),
        (b"x-long-name-" + b"n" * 200, b"v" * 1000),
    ]
    sent = [(name, value) for name, value in fields]

    blocks = [encoder.encode(fields) for _ in range(2)]
    encoder.header_table_size = 256  # the server lowered SETTINGS_HEADER_TABLE_SIZE
    blocks.append(encoder.encode(fields))
    blocks.append(encoder.encode(fields))

    assert [decoder.decode(block, raw=True) for block in blocks] == [sent] * 4
    assert b"bearer " + b"x" * 300 in blocks[0]  # a literal, not Huffman-coded


@pytest.fixture
async def early_answer() -> AsyncIterator[tuple[int, str]]:
    """An HTTP/2 server with a 100-byte stream window that answers 413 as soon as a request's
    headers arrive, without reading the body (RFC 9113 §8.1 allows it): (port, CA path)."""
    import h2.config
    import h2.connection
    import h2.events
    import h2.settings

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    server_context.set_alpn_protocols(["h2"])

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))
        server.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 100}
        )
        server.initiate_connection()
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
    connection = await Http2Connection.open(
        "127.0.0.1",
        port,
        urls=LOOPBACK_URLS,
        ssl_context=client_context(ca_path),
        connect_timeout=5,
    )
    try:
        async with asyncio.timeout(5):
            first = await connection.request(b"POST", b"/big", [], b"x" * 4000)
            second = await connection.request(b"POST", b"/small", [], b"y" * 50)
    finally:
        connection.close()

    assert (first.status, second.status) == (413, 413)
    assert connection.max_concurrent_streams > 1
