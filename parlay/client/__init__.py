"""A typed client of the Parlay API: ``Parlay`` (synchronous) and ``AsyncParlay`` (asyncio).
How to use it: docs/client.md."""

from parlay.client._core import BearerToken, ClientCredentials, Page, RetryPolicy
from parlay.client.aio import AsyncParlay
from parlay.client.errors import (
    ApiError,
    BadRequest,
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    ParlayClientError,
    RateLimited,
    ServerError,
    TransportFailed,
    Unauthorized,
)
from parlay.client.sync import Parlay

__all__ = [
    "ApiError",
    "AsyncParlay",
    "BadRequest",
    "BearerToken",
    "ClientCredentials",
    "Conflict",
    "FieldProblem",
    "Forbidden",
    "NotFound",
    "Page",
    "Parlay",
    "ParlayClientError",
    "RateLimited",
    "RetryPolicy",
    "ServerError",
    "TransportFailed",
    "Unauthorized",
]
