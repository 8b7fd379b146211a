"""The transport-agnostic core shared by ``Parlay`` and ``AsyncParlay``: a call is a request
(method, path, body, whether it may be repeated) and a parser of its answer; which answers are
retried and after how long; the credential and its refresh. The two clients only send.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx

from parlay.client.errors import api_error, retry_after

T = TypeVar("T")

# Methods that HTTP defines as idempotent: repeating one changes nothing more.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
API_KEY_PREFIX = "plk_"
USER_AGENT = "parlay-client/1"


@dataclass(frozen=True)
class Request:
    """One API request, before any transport sends it."""

    method: str
    path: str
    params: Mapping[str, str | int] | None = None
    json: Any = None
    form: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    idempotency_key: str | None = None
    authenticated: bool = True

    @property
    def repeatable(self) -> bool:
        """Whether sending it again after an unknown outcome is safe: an idempotent method, or a
        create that carries an ``Idempotency-Key`` (the server replays the first answer)."""
        return self.method in _IDEMPOTENT_METHODS or self.idempotency_key is not None


@dataclass(frozen=True)
class Call(Generic[T]):
    """A request and how to read its successful answer."""

    request: Request
    parse: Callable[[httpx.Response], T]


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing and the cursor of the next (None on the last)."""

    items: list[T]
    next_cursor: str | None


def new_idempotency_key() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class RetryPolicy:
    """When an answer or a failure is worth another attempt, and after how long.

    A 429 is always retried: the server refuses it before doing anything. A 503, a 502/504 from a
    proxy and a broken connection are retried only for repeatable requests. ``Retry-After`` is
    honoured up to ``max_retry_after``; otherwise the wait grows exponentially with full jitter.
    """

    max_attempts: int = 6
    backoff_base: float = 0.5
    backoff_cap: float = 30.0
    max_retry_after: float = 120.0

    def backoff(self, attempt: int) -> float:
        # Full jitter: clients that failed together do not come back together.
        return random.uniform(0, min(self.backoff_cap, self.backoff_base * 2**attempt))  # noqa: S311

    def after_response(
        self, attempt: int, request: Request, response: httpx.Response
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or None to stop here."""
        status = response.status_code
        if attempt + 1 >= self.max_attempts:
            return None
        if status == 429 or (status == 503 and request.repeatable):
            wait = retry_after(response)
            if wait is None:
                return self.backoff(attempt)
            return wait if wait <= self.max_retry_after else None
        if status in (502, 504) and request.repeatable:
            return self.backoff(attempt)
        return None

    def after_error(
        self, attempt: int, request: Request, error: httpx.TransportError
    ) -> float | None:
        """Seconds to wait after a transport failure, or None to give up."""
        if attempt + 1 >= self.max_attempts:
            return None
        # A refused connection sent nothing: any request may go again.
        if request.repeatable or isinstance(error, httpx.ConnectError):
            return self.backoff(attempt)
        return None


# Credentials ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BearerToken:
    """A credential sent as it is: an API key (``plk_…``) or a staff login token (``plt_…``)."""

    token: str


@dataclass(frozen=True)
class ClientCredentials:
    """An API key exchanged for short-lived key tokens (OAuth 2.0 client credentials, the call
    LivePerson's clients make to Sentinel); the client fetches a new token before one expires."""

    client_id: str
    client_secret: str

    @classmethod
    def from_api_key(cls, key: str) -> ClientCredentials:
        """The key's ``clientId`` is its lookup prefix: ``plk_<clientId>_<secret>``."""
        body = key.removeprefix(API_KEY_PREFIX)
        client_id, sep, rest = body.partition("_")
        if not key.startswith(API_KEY_PREFIX) or not sep or not rest:
            raise ValueError("not a Parlay API key (plk_<id>_<secret>)")
        return cls(client_id, key)


Auth = BearerToken | ClientCredentials


@dataclass
class TokenCache:
    """The key token in use and when to replace it (monotonic seconds)."""

    token: str | None = None
    refresh_at: float = 0.0

    def valid(self, now: float) -> str | None:
        return self.token if self.token is not None and now < self.refresh_at else None

    def store(self, token: str, expires_in: int, now: float) -> None:
        # Refreshed a tenth of its life (at most a minute) before it expires: a request signed
        # just before expiry must still be in time when it arrives.
        self.token = token
        self.refresh_at = now + expires_in - min(60.0, expires_in / 10)

    def drop(self) -> None:
        self.token = None
        self.refresh_at = 0.0


def token_exchange(account_id: str, credentials: ClientCredentials) -> Call[tuple[str, int]]:
    def parse(response: httpx.Response) -> tuple[str, int]:
        body = response.json()
        return str(body["access_token"]), int(body["expires_in"])

    return Call(
        Request(
            "POST",
            f"/sentinel/api/account/{account_id}/app/token",
            params={"v": "1.0", "grant_type": "client_credentials"},
            form={"client_id": credentials.client_id, "client_secret": credentials.client_secret},
            authenticated=False,
        ),
        parse,
    )


# Requests and answers ---------------------------------------------------------------------------


def build(base_url: str, request: Request, credential: str | None) -> httpx.Request:
    """The HTTP request: the same for the sync and the async transport."""
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **request.headers}
    if credential is not None:
        headers["Authorization"] = f"Bearer {credential}"
    if request.idempotency_key is not None:
        headers["Idempotency-Key"] = request.idempotency_key
    return httpx.Request(
        request.method,
        base_url.rstrip("/") + request.path,
        params=dict(request.params) if request.params else None,
        json=request.json,
        data=dict(request.form) if request.form is not None else None,
        headers=headers,
    )


def answer(call: Call[T], response: httpx.Response) -> T:
    """The parsed answer, or the typed error it is."""
    if response.status_code >= 400:
        raise api_error(response)
    return call.parse(response)
