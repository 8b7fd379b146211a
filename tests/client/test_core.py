"""The client's rules that need no server: what is retried and for how long, when a key token
is replaced, and that the synchronous and asynchronous clients offer the same calls."""

from __future__ import annotations

import inspect

import httpx
import pytest

from parlay.client import AsyncParlay, ClientCredentials, Parlay, RetryPolicy
from parlay.client._calls import Calls
from parlay.client._core import Request, TokenCache, build

POLICY = RetryPolicy(max_attempts=4, backoff_base=0.5, backoff_cap=8, max_retry_after=60)
PLAIN_POST = Request("POST", "/x")
KEYED_POST = Request("POST", "/x", idempotency_key="k")
GET = Request("GET", "/x")


def answer(status: int, retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(status, headers=headers)


def test_a_429_is_retried_after_retry_after_whatever_the_method() -> None:
    assert POLICY.after_response(0, PLAIN_POST, answer(429, "3")) == 3


def test_a_retry_after_longer_than_the_policy_allows_is_not_waited() -> None:
    assert POLICY.after_response(0, GET, answer(429, "600")) is None


def test_a_503_is_retried_only_when_the_request_is_repeatable() -> None:
    assert POLICY.after_response(0, GET, answer(503, "2")) == 2
    assert POLICY.after_response(0, KEYED_POST, answer(503, "2")) == 2
    assert POLICY.after_response(0, PLAIN_POST, answer(503, "2")) is None


def test_without_retry_after_the_wait_is_bounded_by_exponential_backoff() -> None:
    for attempt, ceiling in ((0, 0.5), (1, 1.0), (2, 2.0)):
        wait = POLICY.after_response(attempt, GET, answer(502))
        assert wait is not None
        assert 0 <= wait <= ceiling


def test_no_attempt_is_made_past_the_policys_maximum() -> None:
    assert POLICY.after_response(3, GET, answer(429, "1")) is None


def test_other_errors_are_not_retried() -> None:
    for status in (400, 401, 403, 404, 409, 500):
        assert POLICY.after_response(0, GET, answer(status)) is None


def test_a_broken_connection_is_retried_only_when_the_request_is_repeatable() -> None:
    request = httpx.Request("POST", "http://parlay.test/x")
    broken = httpx.ReadError("reset", request=request)
    refused = httpx.ConnectError("refused", request=request)
    assert POLICY.after_error(0, KEYED_POST, broken) is not None
    assert POLICY.after_error(0, PLAIN_POST, broken) is None
    # A refused connection sent nothing: even a plain POST may go again.
    assert POLICY.after_error(0, PLAIN_POST, refused) is not None


def test_every_create_the_api_deduplicates_carries_a_key_kept_for_its_retries() -> None:
    calls = Calls("acme")
    created = calls.create_campaign(name="n", skill="s", handoff_id="H1", consumers=[])
    key = created.request.idempotency_key
    assert key is not None
    assert build("http://parlay.test", created.request, "t").headers["Idempotency-Key"] == key
    assert calls.send_invite("call").request.idempotency_key is not None
    assert calls.create_handoff({"name": "h"}).request.idempotency_key is not None
    given = calls.create_campaign(
        name="n", skill="s", handoff_id="H1", consumers=[], idempotency_key="mine"
    )
    assert given.request.idempotency_key == "mine"


def test_a_key_token_is_replaced_before_it_expires() -> None:
    cache = TokenCache()
    cache.store("pla_1", expires_in=3600, now=1000.0)
    assert cache.valid(1000.0 + 3600 - 61) == "pla_1"
    assert cache.valid(1000.0 + 3600 - 60) is None
    short = TokenCache()
    short.store("pla_2", expires_in=100, now=0.0)
    assert short.valid(89.0) == "pla_2"
    assert short.valid(90.0) is None


def test_client_credentials_come_from_the_api_key_itself() -> None:
    credentials = ClientCredentials.from_api_key("plk_0123456789ab_secret_part")
    assert credentials.client_id == "0123456789ab"
    assert credentials.client_secret == "plk_0123456789ab_secret_part"
    with pytest.raises(ValueError, match="not a Parlay API key"):
        ClientCredentials.from_api_key("plt_something")


def _public(kind: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(kind, inspect.isfunction)
        if not name.startswith("_")
    }


def test_the_sync_and_async_clients_offer_the_same_calls_with_the_same_parameters() -> None:
    sync, asynchronous = _public(Parlay), _public(AsyncParlay)
    assert sync.keys() - {"close"} == asynchronous.keys() - {"aclose"}
    for name in sync.keys() - {"close"}:
        assert list(sync[name].parameters) == list(asynchronous[name].parameters), name


def test_an_error_answer_without_a_problem_body_is_still_typed() -> None:
    from parlay.client.errors import ServerError, api_error

    error = api_error(httpx.Response(502, text="<html>bad gateway</html>"))
    assert isinstance(error, ServerError)
    assert (error.status, error.error_code, error.detail) == (502, None, "Bad Gateway")


def test_a_server_that_cannot_be_reached_raises_transport_failed_after_the_retries() -> None:
    from parlay.client import TransportFailed
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    policy = RetryPolicy(max_attempts=2, backoff_base=0.0)
    with Parlay(url, "acme", api_key="plk_x", retry=policy) as client:
        with pytest.raises(TransportFailed):
            client.list_skills()


@pytest.mark.anyio
async def test_the_async_client_raises_transport_failed_too() -> None:
    from parlay.client import TransportFailed
    from tests.servers import free_port

    url = f"http://127.0.0.1:{free_port()}"
    policy = RetryPolicy(max_attempts=2, backoff_base=0.0)
    async with AsyncParlay(url, "acme", api_key="plk_x", retry=policy) as client:
        with pytest.raises(TransportFailed):
            await client.list_skills()
