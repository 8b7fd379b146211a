"""HTTP routes that LivePerson's clients call besides the C2M and Proactive APIs: the
client-credentials token exchange (Sentinel's shape) and the Domain API that tells a client
which host serves a service. Both only translate; the rules are in ``accounts``."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Form, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from parlay.accounts import usecases
from parlay.api.deps import ServicesDep, rate_limit
from parlay.api.openapi import problems
from parlay.api.params import AccountIdPath
from parlay.api.strict_json import api_router
from parlay.lib.errors import invalid_field
from parlay.lib.ratelimit import ApiFamily

router = api_router(tags=["liveperson"])
GRANT_TYPE = "client_credentials"


class KeyToken(BaseModel):
    """OAuth 2.0's token response (RFC 6749 §5.1), snake_case as LivePerson's Sentinel answers."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "pla_Qm3v8Xk1Rz7Tb4Nw9Ls2Hd6Fy0Jc5Pe1Ua8Gi3Ko",
                    "token_type": "Bearer",
                    "expires_in": 3600,
                }
            ]
        }
    )

    access_token: str = Field(description="Send as `Authorization: Bearer <access_token>`.")
    token_type: str = Field(description="Always `Bearer`.")
    expires_in: int = Field(description="Seconds it lives (PARLAY_KEY_TOKEN_TTL_SECONDS).")


class BaseUri(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"service": "leDataReporting", "account": "acme", "baseURI": "parlay.acme.example"}
            ]
        }
    )

    service: str = Field(description="The service asked for.")
    account: str = Field(description="The account asked for.")
    baseURI: str = Field(description="The host (and port) serving it: Parlay's own.")


@router.post(
    "/sentinel/api/account/{accountId}/app/token",
    operation_id="exchangeApiKey",
    response_model=KeyToken,
    responses=problems(401, 429),
)
async def exchange_api_key(
    accountId: AccountIdPath,
    s: ServicesDep,
    client_id: Annotated[str, Form(min_length=1, max_length=64, description="The key's prefix.")],
    client_secret: Annotated[str, Form(min_length=1, max_length=255, description="The key.")],
    grant_type: Annotated[
        str | None, Query(max_length=32, description="client_credentials (or in the form).")
    ] = None,
    v: Annotated[str | None, Query(max_length=8, description="1.0, as clients send it.")] = None,
    grant_type_form: Annotated[
        str | None,
        Form(
            alias="grant_type", max_length=32, description="client_credentials (or in the query)."
        ),
    ] = None,
) -> KeyToken:
    """Exchange an API key (``client_id``: its prefix, ``client_secret``: the key) for a bearer
    token that lives an hour, with the key's scopes; it stops working when the key is revoked.
    ``grant_type`` (query or form) is ``client_credentials``."""
    for given in (grant_type, grant_type_form):
        if given is not None and given != GRANT_TYPE:
            raise invalid_field("grant_type", f"only {GRANT_TYPE} is served")
    # A key's secret is not guessable; the budget only keeps a flood off the database.
    await rate_limit(
        s,
        ApiFamily.CONFIG,
        f"{accountId}/token/{client_id}",
        s.settings.staff_rate_limit_per_second,
    )
    ttl = timedelta(seconds=s.settings.key_token_ttl_seconds)
    token = await usecases.exchange_key(s.tx, accountId, client_id, client_secret, ttl)
    seconds = int(ttl.total_seconds())
    return KeyToken(access_token=token, token_type="Bearer", expires_in=seconds)  # noqa: S106


@router.get(
    "/api/account/{accountId}/service/{serviceName}/baseURI.json",
    operation_id="getServiceBaseUri",
    response_model=BaseUri,
)
async def service_base_uri(
    accountId: AccountIdPath,
    serviceName: Annotated[
        str,
        Path(
            min_length=1,
            max_length=64,
            pattern=r"^[A-Za-z0-9_.-]+$",
            description="A LivePerson service name (leDataReporting, agentVep, ...).",
        ),
    ],
    request: Request,
    s: ServicesDep,
    version: Annotated[
        str | None, Query(max_length=8, description="1.0, as clients send it; not checked.")
    ] = None,
) -> BaseUri:
    """LivePerson's Domain API: the host serving ``serviceName`` for the account. Parlay serves
    every service its clients look up (C2M, Proactive, reporting, Sentinel...) on one host: its
    public address (``PARLAY_PUBLIC_URL``), else the one this request came to. No credential,
    as at LivePerson."""
    public = s.settings.public_url
    host = urlsplit(public).netloc if public else request.url.netloc
    return BaseUri(service=serviceName, account=accountId, baseURI=host)
