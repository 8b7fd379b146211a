"""API shapes of apps and their push credentials. Secrets go in, never out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from parlay.api.schemas.base import RequestModel, ResponseModel, examples

_ENDPOINT = "An https base URL in place of the service's own (a sandbox or an egress proxy)."


class ApnsIn(RequestModel):
    team_id: str = Field(
        max_length=10,
        pattern=r"^[A-Z0-9]{10}$",
        description="The Apple developer team ID: 10 upper-case letters or digits.",
    )
    key_id: str = Field(
        max_length=10,
        pattern=r"^[A-Z0-9]{10}$",
        description="The ID of the APNs auth key: 10 upper-case letters or digits.",
    )
    private_key_pem: str | None = Field(
        default=None,
        max_length=8192,
        description="The .p8 key (a P-256 private key in PEM). Omit on PUT to keep the stored one.",
    )
    environment: Literal["production", "sandbox"] = Field(
        default="production", description="Which APNs to push to; default production."
    )
    endpoint: str | None = Field(default=None, max_length=2048, description=_ENDPOINT)


class FcmIn(RequestModel):
    service_account_json: str | None = Field(
        default=None,
        max_length=16384,
        description="The service account JSON file's text. Omit on PUT to keep the stored one.",
    )
    endpoint: str | None = Field(default=None, max_length=2048, description=_ENDPOINT)


class BasicAuthIn(RequestModel):
    username: str = Field(min_length=1, max_length=255, description="Sent in `Authorization`.")
    password: str = Field(min_length=1, max_length=1024, description="Sent, never shown.")


class ProxyIn(RequestModel):
    url: str = Field(
        max_length=2048,
        description="Where Parlay POSTs each push (https, a public host): docs/push-proxy.md.",
    )
    basic_auth: BasicAuthIn | None = Field(
        default=None, description="HTTP Basic credentials sent with every push; omitted: none."
    )
    headers: (
        dict[Annotated[str, Field(max_length=128)], Annotated[str, Field(max_length=1024)]] | None
    ) = Field(
        default=None,
        max_length=4,
        description="Up to 4 extra headers sent with every push (values never shown).",
    )
    secret: str | None = Field(
        default=None,
        min_length=16,
        max_length=1024,
        description="HMAC-SHA256 key of the signature header. Omit on PUT to keep the stored one.",
    )


class AppIn(RequestModel):
    model_config = examples(
        {
            "appId": "com.acme.app",
            "platform": "ios",
            "pushService": "proxy",
            "proxy": {
                "url": "https://push.acme.example/notify",
                "secret": "a-long-random-shared-secret",
                "headers": {"X-Api-Key": "k-123"},
            },
        },
        {
            "appId": "com.acme.app",
            "platform": "ios",
            "pushService": "apns",
            "apns": {
                "teamId": "TEAM123456",
                "keyId": "KEY1234567",
                "privateKeyPem": "-----BEGIN PRIVATE KEY-----\n...\n-----END PRIVATE KEY-----\n",
                "environment": "production",
            },
        },
    )

    app_id: str = Field(
        min_length=1,
        max_length=255,
        pattern=r"^[A-Za-z0-9._-]+$",
        description="The bundle or package ID; unique in the account.",
    )
    platform: Literal["ios", "android"] = Field(description="The app's platform.")
    push_service: Literal["apns", "fcm", "proxy"] = Field(
        description="How its pushes go: apns (ios only), fcm, or the brand's proxy."
    )
    apns: ApnsIn | None = Field(default=None, description="Required with pushService apns.")
    fcm: FcmIn | None = Field(default=None, description="Required with pushService fcm.")
    proxy: ProxyIn | None = Field(default=None, description="Required with pushService proxy.")


class ApnsOut(ResponseModel):
    team_id: str = Field(description="The Apple developer team ID.")
    key_id: str = Field(description="The APNs auth key's ID.")
    environment: str = Field(description="production or sandbox.")
    endpoint: str | None = Field(default=None, description="The base URL override, if any.")
    has_private_key: bool = Field(description="Whether a .p8 key is stored.")


class FcmOut(ResponseModel):
    project_id: str = Field(description="From the service account.")
    client_email: str = Field(description="From the service account.")
    endpoint: str | None = Field(default=None, description="The base URL override, if any.")
    has_service_account: bool = Field(description="Whether a service account is stored.")


class ProxyOut(ResponseModel):
    url: str = Field(description="Where pushes are POSTed.")
    basic_auth_username: str | None = Field(
        default=None, description="The Basic auth user; null: no Basic auth."
    )
    header_names: list[str] = Field(description="The extra headers' names (values are secret).")
    has_secret: bool = Field(description="Whether a signing secret is stored.")


_APP = {
    "appId": "com.acme.app",
    "platform": "ios",
    "pushService": "proxy",
    "apns": None,
    "fcm": None,
    "proxy": {
        "url": "https://push.acme.example/notify",
        "basicAuthUsername": None,
        "headerNames": ["X-Api-Key"],
        "hasSecret": True,
    },
    "createdAt": "2026-01-05T17:00:00Z",
    "updatedAt": "2026-01-05T17:00:00Z",
}


class AppOut(ResponseModel):
    model_config = examples(_APP)

    app_id: str = Field(description="The bundle or package ID.")
    platform: str = Field(description="ios or android.")
    push_service: str = Field(description="apns, fcm or proxy.")
    apns: ApnsOut | None = Field(default=None, description="With pushService apns.")
    fcm: FcmOut | None = Field(default=None, description="With pushService fcm.")
    proxy: ProxyOut | None = Field(default=None, description="With pushService proxy.")
    created_at: datetime = Field(description="When it was registered (UTC).")
    updated_at: datetime = Field(description="When it last changed (UTC).")


class AppList(ResponseModel):
    model_config = examples({"apps": [_APP]})

    apps: list[AppOut] = Field(description="Every app of the account.")
