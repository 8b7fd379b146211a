"""The URL policy: which URLs a brand may save for Parlay to fetch, and where Parlay may connect.

Names are resolved by resolvers the tests give (no real DNS); the connect-time checks run
against a loopback HTTPS server whose certificate names a host, not an address.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address
from pathlib import Path

import httpx
import pytest
import trustme

from parlay.lib.errors import InvalidRequest
from parlay.lib.http.client import make_client
from parlay.lib.http.h2curl import ConnectError, ConnectionPool
from parlay.lib.http.urls import BlockedAddress, UrlPolicy, address_problem, host_address
from tests.fakes.h2server import H2Server
from tests.fakes.loopback import Request, Response

pytestmark = pytest.mark.anyio

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"
HOST = "push.brand.test"  # the name the loopback server's certificate is issued for


@dataclass
class Dns:
    """A resolver the tests script: each name answers its next list of addresses (the last
    one again once the others are used), and every question is recorded."""

    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    asked: list[tuple[str, int]] = field(default_factory=list)

    def add(self, name: str, *answers: list[str]) -> Dns:
        self.answers[name] = list(answers)
        return self

    async def __call__(self, host: str, port: int) -> Sequence[str]:
        self.asked.append((host, port))
        answers = self.answers.get(host)
        if not answers:
            raise OSError(f"[Errno -2] Name or service not known: {host}")
        return answers.pop(0) if len(answers) > 1 else answers[0]


def strict(dns: Dns | None = None) -> UrlPolicy:
    return UrlPolicy(resolver=dns or Dns())


async def refusal(policy: UrlPolicy, url: str, field: str = "proxy.url") -> str:
    with pytest.raises(InvalidRequest) as raised:
        await policy.check(field, url)
    [error] = raised.value.errors
    assert error.field == field
    assert raised.value.status == 400
    return error.message


# --- save time: every spelling of an internal address ---------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("https://127.0.0.1/push", "loopback"),
        ("https://127.255.255.254/push", "loopback"),
        ("https://10.0.0.5/push", "private"),
        ("https://172.16.0.1/push", "private"),
        ("https://172.31.255.255/push", "private"),
        ("https://192.168.1.20:8443/push", "private"),
        ("https://169.254.169.254/latest/meta-data/", "link-local"),
        ("https://[::1]/push", "loopback"),
        ("https://[::ffff:127.0.0.1]/push", "loopback"),
        ("https://[::ffff:7f00:1]/push", "loopback"),
        ("https://[::ffff:a9fe:a9fe]/push", "link-local"),
        ("https://[64:ff9b::a00:5]/push", "private"),  # NAT64 of 10.0.0.5
        ("https://[2002:7f00:1::]/push", "loopback"),  # 6to4 of 127.0.0.1
        ("https://[fe80::1]/push", "link-local"),
        ("https://[fe80::1%25eth0]/push", "link-local"),
        ("https://[fc00::1]/push", "private"),
        ("https://[fd12:3456::1]/push", "private"),
        ("https://[fec0::1]/push", "site-local"),
        ("https://2130706433/push", "loopback"),
        ("https://0x7f000001/push", "loopback"),
        ("https://0X7F.0.0.1/push", "loopback"),
        ("https://0177.0.0.1/push", "loopback"),
        ("https://127.1/push", "loopback"),
        ("https://127.0.1/push", "loopback"),
        ("https://0x7f.1/push", "loopback"),
        ("https://012.1/push", "private"),  # 10.0.0.1
        ("https://127.0.0.1./push", "loopback"),
        ("https://224.0.0.1/push", "multicast"),
        ("https://[ff02::1]/push", "multicast"),
        ("https://0.0.0.0/push", "unspecified"),
        ("https://0/push", "unspecified"),
        ("https://[::]/push", "unspecified"),
        ("https://100.64.0.1/push", "shared"),
        ("https://100.127.255.254/push", "shared"),
        ("https://198.18.0.1/push", "private"),  # benchmarking
        ("https://192.0.0.8/push", "reserved"),
        ("https://240.0.0.1/push", "private"),
        ("https://255.255.255.255/push", "private"),
    ],
)
async def test_every_spelling_of_an_internal_address_is_refused(url: str, kind: str) -> None:
    message = await refusal(strict(), url)
    assert kind in message
    assert "public" in message


@pytest.mark.parametrize(
    "url",
    [
        "https://localhost/push",
        "https://LOCALHOST/push",
        "https://localhost./push",
        "https://api.localhost/push",
        "https://localhost:8443/push",
    ],
)
async def test_localhost_is_refused_without_asking_dns(url: str) -> None:
    dns = Dns()
    assert "loopback" in await refusal(strict(dns), url)
    assert dns.asked == []


@pytest.mark.parametrize(
    "answer",
    [
        ["127.0.0.1"],
        ["::1"],
        ["10.1.2.3"],
        ["169.254.169.254"],
        ["::ffff:127.0.0.1"],
        [PUBLIC_V4, "192.168.0.10"],  # every address must be public, not just one
        [PUBLIC_V6, "fe80::1"],
    ],
)
async def test_a_name_that_resolves_to_an_internal_address_is_refused(answer: list[str]) -> None:
    dns = Dns().add("push.brand.example", answer)
    message = await refusal(strict(dns), "https://push.brand.example/notify")
    assert "push.brand.example must resolve to public addresses only" in message
    assert dns.asked == [("push.brand.example", 443)]


async def test_a_name_that_does_not_resolve_is_refused_with_the_same_words() -> None:
    """The same answer as for an internal name: the difference would tell whoever saves URLs
    which internal names exist."""
    dns = Dns().add("internal.brand.example", ["10.0.0.7"])
    inside = await refusal(strict(dns), "https://internal.brand.example/")
    nowhere = await refusal(strict(dns), "https://nowhere.brand.example/")
    assert inside.replace("internal", "nowhere") == nowhere


async def test_the_name_is_resolved_without_its_trailing_dot_and_with_its_port() -> None:
    dns = Dns().add("push.brand.example", [PUBLIC_V4])
    policy = strict(dns)
    assert await policy.check("proxy.url", "https://Push.Brand.Example.:8443/x") == (
        "https://Push.Brand.Example.:8443/x"
    )
    assert dns.asked == [("push.brand.example", 8443)]


@pytest.mark.parametrize(
    "url",
    [
        "https://push.brand.example/notify",
        "https://push.brand.example:8443/notify?x=1",
        f"https://{PUBLIC_V4}/notify",
        f"https://[{PUBLIC_V6}]/notify",
        "https://8.8.8.8/",
    ],
)
async def test_public_https_urls_are_accepted(url: str) -> None:
    dns = Dns().add("push.brand.example", [PUBLIC_V4, PUBLIC_V6])
    assert await strict(dns).check("proxy.url", url) == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://push.brand.example/notify", "must be https"),
        ("ftp://push.brand.example/notify", "absolute https URL"),
        ("push.brand.example/notify", "absolute https URL"),
        ("https:///no-host", "absolute https URL"),
        ("", "absolute https URL"),
        ("https://user:pw@push.brand.example/", "no user name or password"),
        ("https://127.0.0.1@push.brand.example/", "no user name or password"),
        ("https://push.brand.example\\@127.0.0.1/", "ASCII without spaces"),
        ("https://push.brand.example /", "ASCII without spaces"),
        ("https://bücher.example/", "xn-- form"),
        ("https://push.brand.example:99999/", "port"),
        ("https://push.brand.example:0/", "port"),
        ("https://1.2.3.999/", "not a valid IPv4 address"),
        ("https://1.2.3.4.5/", "neither a host name nor an IPv4 address"),
        ("https://08.1.2.3/", "neither a host name nor an IPv4 address"),
        ("https://push..brand.example/", "not a valid host name"),
        ("https://[::ffff:not]/", "does not appear to be an IPv4 or IPv6 address"),
    ],
)
async def test_malformed_urls_are_refused(url: str, words: str) -> None:
    dns = Dns().add("push.brand.example", [PUBLIC_V4])
    assert words in await refusal(strict(dns), url)


async def test_apns_and_fcm_endpoints_are_https_even_when_the_policy_is_lifted() -> None:
    lifted = UrlPolicy(allow_private=True, resolver=Dns())
    with pytest.raises(InvalidRequest, match="HTTP/2 over TLS"):
        await lifted.check("apns.endpoint", "http://127.0.0.1:8443", https_only=True)
    assert await lifted.check("apns.endpoint", "https://127.0.0.1:8443", https_only=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/push",
        "http://localhost/push",
        "https://169.254.169.254/",
        "https://[::1]:9000/jwks.json",
        "http://internal.brand.example/",
    ],
)
async def test_the_lifted_policy_accepts_http_and_any_address_without_dns(url: str) -> None:
    dns = Dns()
    assert await UrlPolicy(allow_private=True, resolver=dns).check("proxy.url", url) == url
    assert dns.asked == []


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("8.8.8.8", None),
        (PUBLIC_V6, None),
        ("::ffff:8.8.8.8", None),
        ("127.0.0.1", "a loopback address"),
        ("169.254.169.254", "a link-local address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("fd00::1", "a private address"),
        ("2001:db8::1", "a private address"),  # documentation
        ("::127.0.0.1", "a reserved address"),  # IPv4-compatible, deprecated
    ],
)
def test_address_problem_names_what_an_address_is(address: str, problem: str | None) -> None:
    assert address_problem(ip_address(address)) == problem


def test_host_address_reads_every_numeric_spelling_as_the_address_it_is() -> None:
    spellings = ["127.0.0.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.1", "0x7f.0.0.1"]
    assert {host_address(s) for s in spellings} == {ip_address("127.0.0.1")}
    assert host_address("Push.Brand.Example.") == "push.brand.example"


# --- connect time -----------------------------------------------------------------------------


@pytest.fixture
async def named_server(tmp_path: Path) -> AsyncIterator[tuple[H2Server, str]]:
    """An HTTPS server on 127.0.0.1 (HTTP/2 and HTTP/1.1) whose certificate names only
    ``HOST``: connecting works only if TLS checks the name while TCP goes to the address."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(HOST).configure_cert(context)
    bundle = tmp_path / "named-ca.pem"
    ca.cert_pem.write_to_path(str(bundle))

    def answer(request: Request) -> Response:
        return Response(200, b"hello", (("content-type", "text/plain"),))

    server = H2Server(answer, ssl_context=context, ca_bundle=str(bundle))
    await server.start()
    try:
        yield server, str(bundle)
    finally:
        await server.stop()


def rebinding() -> Dns:
    """Public when the URL is saved, loopback when Parlay connects (DNS rebinding)."""
    return Dns().add(HOST, [PUBLIC_V4], ["127.0.0.1"])


async def test_a_name_rebound_to_loopback_after_saving_is_refused_at_connect_httpx(
    named_server: tuple[H2Server, str],
) -> None:
    server, bundle = named_server
    policy = strict(rebinding())
    url = f"https://{HOST}:{server.port}/push"
    assert await policy.check("proxy.url", url) == url  # saved: it resolved publicly

    async with make_client(urls=policy, ca_bundle=bundle) as client:
        with pytest.raises(BlockedAddress, match=f"{HOST} resolves to an address that is not"):
            await client.get(url)
    assert server.stats.connections == 0


async def test_a_name_rebound_to_loopback_after_saving_is_refused_at_connect_http2(
    named_server: tuple[H2Server, str],
) -> None:
    server, bundle = named_server
    policy = strict(rebinding())
    url = f"https://{HOST}:{server.port}"
    assert await policy.check("apns.endpoint", url, https_only=True) == url

    pool: ConnectionPool[str] = ConnectionPool(
        urls=policy, ca_bundle=bundle, connect_timeout=5, idle_timeout=60
    )
    try:
        with pytest.raises(BlockedAddress):
            await pool.request("k", (HOST, server.port), "/", [], b"{}", timeout=5)
    finally:
        await pool.close()
    assert server.stats.connections == 0


@pytest.mark.parametrize("http2", [False, True])
async def test_httpx_connects_to_the_checked_address_and_verifies_the_host_name(
    named_server: tuple[H2Server, str], http2: bool
) -> None:
    server, bundle = named_server
    dns = Dns().add(HOST, ["127.0.0.1"])
    lifted = UrlPolicy(allow_private=True, resolver=dns)

    async with make_client(urls=lifted, ca_bundle=bundle, http2=http2) as client:
        response = await client.get(f"https://{HOST}:{server.port}/")

    assert (response.status_code, response.text) == (200, "hello")
    assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
    assert dns.asked == [(HOST, server.port)]


async def test_http2_connects_to_the_checked_address_and_verifies_the_host_name(
    named_server: tuple[H2Server, str],
) -> None:
    server, bundle = named_server
    dns = Dns().add(HOST, ["127.0.0.2", "127.0.0.1"])  # nothing listens on the first one
    lifted = UrlPolicy(allow_private=True, resolver=dns)
    pool: ConnectionPool[str] = ConnectionPool(
        urls=lifted, ca_bundle=bundle, connect_timeout=5, idle_timeout=60
    )
    try:
        answer = await pool.request("k", (HOST, server.port), "/", [], b"{}", timeout=5)
    finally:
        await pool.close()
    assert answer.status == 200
    assert dns.asked == [(HOST, server.port)]


async def test_a_certificate_for_another_name_still_fails_at_the_checked_address(
    named_server: tuple[H2Server, str],
) -> None:
    server, bundle = named_server
    dns = Dns().add("other.brand.test", ["127.0.0.1"])
    lifted = UrlPolicy(allow_private=True, resolver=dns)
    pool: ConnectionPool[str] = ConnectionPool(
        urls=lifted, ca_bundle=bundle, connect_timeout=5, idle_timeout=60
    )
    try:
        with pytest.raises(ConnectError, match=r"other\.brand\.test"):
            await pool.request("k", ("other.brand.test", server.port), "/", [], b"{}", timeout=5)
    finally:
        await pool.close()
    async with make_client(urls=lifted, ca_bundle=bundle) as client:
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await client.get(f"https://other.brand.test:{server.port}/")


async def test_a_name_that_does_not_resolve_at_connect_is_a_connection_error(
    named_server: tuple[H2Server, str],
) -> None:
    """Not a refusal: DNS trouble may pass, so the push is retried later."""
    server, bundle = named_server
    async with make_client(urls=strict(), ca_bundle=bundle) as client:
        with pytest.raises(httpx.ConnectError, match="Name or service not known"):
            await client.get(f"https://{HOST}:{server.port}/")
    pool: ConnectionPool[str] = ConnectionPool(
        urls=strict(), ca_bundle=bundle, connect_timeout=5, idle_timeout=60
    )
    try:
        with pytest.raises(ConnectError, match="Name or service not known"):
            await pool.request("k", (HOST, server.port), "/", [], b"{}", timeout=5)
    finally:
        await pool.close()
