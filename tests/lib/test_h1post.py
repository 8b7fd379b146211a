"""The webhook relay's HTTP/1.1 poster against loopback servers: kept-alive connections, a
kept-alive connection the receiver dropped, TLS by the host's name, bounded answers, and the
URL policy at connect time."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from parlay.lib.http.client import tls_context
from parlay.lib.http.h1post import MAX_ANSWER_BYTES, Http1Poster, HttpError
from parlay.lib.http.urls import BlockedAddress, UrlPolicy
from tests.fakes.loopback import LOOPBACK_URLS, LoopbackServer, Request, Response, loopback_tls

pytestmark = pytest.mark.anyio


@asynccontextmanager
async def serving(
    handler: Callable[[Request], Awaitable[Response | None]], **options: object
) -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer(handler, **options)  # type: ignore[arg-type]
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_posts_the_body_with_its_headers_and_reads_the_answer() -> None:
    seen: list[Request] = []

    async def handler(request: Request) -> Response:
        seen.append(request)
        return Response(202, b"ok", (("retry-after", "3"),))

    poster = Http1Poster(LOOPBACK_URLS, tls_context())
    async with serving(handler) as server:
        for n in range(2):
            answer = await poster.post(
                f"{server.url}/hooks?x=1", b'{"n": %d}' % n, {"X-Test": "yes"}, timeout=5
            )
            assert (answer.status, answer.headers["retry-after"]) == (202, "3")
    await poster.aclose()
    assert [(r.method, r.target, r.body, r.headers["x-test"]) for r in seen] == [
        ("POST", "/hooks?x=1", b'{"n": 0}', "yes"),
        ("POST", "/hooks?x=1", b'{"n": 1}', "yes"),
    ]
    assert seen[0].headers["host"] == f"127.0.0.1:{server.port}"


async def test_a_kept_alive_connection_the_receiver_dropped_is_replaced_once() -> None:
    answers = iter([Response(200), None, Response(204)])  # None: close without an answer

    async def handler(request: Request) -> Response | None:
        return next(answers)

    poster = Http1Poster(LOOPBACK_URLS, tls_context())
    async with serving(handler) as server:
        assert (await poster.post(server.url, b"{}", {}, timeout=5)).status == 200
        assert (await poster.post(server.url, b"{}", {}, timeout=5)).status == 204
        # A fresh connection that is dropped is a failure, not retried.
        answers = iter([None])
        poster_fresh = Http1Poster(LOOPBACK_URLS, tls_context())
        with pytest.raises(HttpError) as failed:
            await poster_fresh.post(server.url, b"{}", {}, timeout=5)
    assert failed.value.kind == "reset"


async def test_https_connects_by_the_hosts_name_and_a_huge_answer_is_refused(
    tmp_path: Path,
) -> None:
    context, ca_bundle = loopback_tls(tmp_path)

    async def handler(request: Request) -> Response:
        size = MAX_ANSWER_BYTES + 1 if request.path == "/huge" else 0
        return Response(200, b"x" * size)

    poster = Http1Poster(LOOPBACK_URLS, tls_context(ca_bundle))
    async with serving(handler, ssl_context=context) as server:
        assert (await poster.post(f"{server.url}/ok", b"{}", {}, timeout=5)).status == 200
        with pytest.raises(HttpError) as failed:
            await poster.post(f"{server.url}/huge", b"{}", {}, timeout=5)
    assert failed.value.kind == "too_large"


async def test_nothing_is_sent_to_an_address_the_policy_refuses() -> None:
    seen: list[Request] = []

    async def handler(request: Request) -> Response:
        seen.append(request)
        return Response(200)

    poster = Http1Poster(UrlPolicy(allow_private=False), tls_context())
    async with serving(handler) as server:
        with pytest.raises(BlockedAddress):
            await poster.post(server.url, b"{}", {}, timeout=5)
        refused = Http1Poster(LOOPBACK_URLS, tls_context())
        with pytest.raises(HttpError) as failed:
            await refused.post("http://127.0.0.1:1/nothing-listens", b"{}", {}, timeout=5)
    assert failed.value.kind == "connect"
    assert seen == []
