"""The HTTP/2 connection of ``parlay.channels.h2conn`` where the APNs tests do not reach it."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator

import pytest
import trustme

from parlay.channels.h2conn import ConnectError, Http2Connection, Unavailable
from parlay.channels.http import tls_context
from tests.fakes.apns import ApnsFake

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
            "127.0.0.1", port, ssl_context=client_context(ca_path), connect_timeout=5
        )


async def test_an_untrusted_certificate_is_refused(apns_fake: ApnsFake) -> None:
    context = ssl.create_default_context()  # the fake's test CA is not in the system store
    context.set_alpn_protocols(["h2"])
    host, port = apns_fake.base_url.removeprefix("https://").rsplit(":", 1)

    with pytest.raises(ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        await Http2Connection.open(host, int(port), ssl_context=context, connect_timeout=5)


async def test_the_servers_stream_limit_is_known_before_the_first_request(
    apns_fake: ApnsFake,
) -> None:
    host, port = apns_fake.base_url.removeprefix("https://").rsplit(":", 1)
    connection = await Http2Connection.open(
        host, int(port), ssl_context=client_context(apns_fake.ca_bundle), connect_timeout=5
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
        ssl_context=client_context(apns_fake.ca_bundle),
        connect_timeout=5,
        idle_timeout=0.1,
    )
    answer = await connection.request(b"GET", b"/", [])
    assert answer.status == 405 and connection.usable

    await asyncio.sleep(0.5)

    assert not connection.usable


def test_request_header_blocks_decode_to_the_fields_sent_also_after_a_table_resize() -> None:
    from hpack import Decoder, NeverIndexedHeaderTuple

    from parlay.channels.h2conn import _Encoder

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
