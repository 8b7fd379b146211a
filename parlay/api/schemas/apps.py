"""API shapes of apps and their push credentials. Secrets go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel


class ApnsIn(RequestModel):
    team_id: str = Field(max_length=10, pattern=r"^[A-Z0-9]{10}$")
    key_id: str = Field(max_length=10, pattern=r"^[A-Z0-9]{10}$")
    private_key_pem: str | None = Field(
        default=None,
        max_length=8192,
        description="The .p8 key. Omit on PUT to keep the stored one.",
    )
    environment: Literal["production", "sandbox"] = "production"
    endpoint: str | None = Field(default=None, max_length=2048)


class FcmIn(RequestModel):
    service_account_json: str | None = Field(
        default=None,
        max_length=16384,
        description="The service account JSON file's text. Omit on PUT to keep the stored one.",
    )
    endpoint: str | None = Field(default=None, max_length=2048)


class BasicAuthIn(RequestModel):
    username: str = Field(min_length=1, max_length=255)
    password: str = Field(min_length=1, max_length=1024)


class ProxyIn(RequestModel):
    url: str = Field(max_length=2048)
    basic_auth: BasicAuthIn | None = None
    headers: (
        dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=1024)]] | None
    ) = Field(default=None, max_length=4)
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=1024,
        description="HMAC-SHA256 key of the signature header. Omit on PUT to keep the stored one.",
    )


class AppIn(RequestModel):
    app_id: str = Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9._-]+$")
    platform: Literal["ios", "android"]
    push_service: Literal["apns", "fcm", "proxy"]
    apns: ApnsIn | None = None
    fcm: FcmIn | None = None
    proxy: ProxyIn | None = None


class ApnsOut(ResponseModel):
    team_id: str
    key_id: str
    environment: str
    endpoint: str | None = None
    has_private_key: bool


class FcmOut(ResponseModel):
    project_id: str
    client_email: str
    endpoint: str | None = None
    has_service_account: bool


class ProxyOut(ResponseModel):
    url: str
    basic_auth_username: str | None = None
    header_names: list[str]
    has_secret: bool


class AppOut(ResponseModel):
    app_id: str
    platform: str
    push_service: str
    apns: ApnsOut | None = None
    fcm: FcmOut | None = None
    proxy: ProxyOut | None = None
    created_at: datetime
    updated_at: datetime


class AppList(ResponseModel):
    apps: list[AppOut]
