"""Every HTTP route of the app, as the tests that sweep them need it.

FastAPI ≥ 0.137 keeps each included router as one opaque entry of ``app.routes``; a plain loop
over ``app.routes`` sees no API route at all and a sweep over it passes while checking nothing.
``iter_route_contexts`` yields the effective routes, and ``test_the_route_walk_sees_every_
documented_operation`` pins the enumeration to the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from parlay.accounts.permissions import Permission
from parlay.lib.ratelimit import ApiFamily

LOGIN = ("POST", "/api/account/{accountId}/login")
# LivePerson's Domain API: which host serves a service, asked before any credential is used.
DOMAIN_API = ("GET", "/api/account/{accountId}/service/{serviceName}/baseURI.json")
OPEN = (LOGIN, DOMAIN_API)
# Any signed-in staff user, whatever their roles: there is no permission to check.
LOGOUT = ("POST", "/api/account/{accountId}/logout")


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # the template, e.g. /api/account/{accountId}/users/{userId}
    path_params: dict[str, Any]  # name → annotation
    required_query: tuple[str, ...]
    has_body: bool
    requirements: tuple[tuple[Permission, ApiFamily], ...]  # every require(...) on the route
    # Called by consumers with the brand's JWT, not by staff or API keys.
    consumer_authenticated: bool = False

    @property
    def staff(self) -> bool:
        """Swept by the staff permission matrix: every route but login and the consumer API."""
        return self.key not in OPEN and not self.consumer_authenticated

    @property
    def signed_in_only(self) -> bool:
        """Open to any signed-in user (logout): no permission to sweep."""
        return self.key == LOGOUT

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _requirements(dependant: Dependant) -> Iterator[tuple[Permission, ApiFamily]]:
    for sub in dependant.dependencies:
        permission = getattr(sub.call, "permission", None)
        if permission is not None:
            yield permission, sub.call.family  # type: ignore[union-attr]
        yield from _requirements(sub)


def _consumer_authenticated(dependant: Dependant) -> bool:
    return any(
        getattr(sub.call, "consumer_auth", False) or _consumer_authenticated(sub)
        for sub in dependant.dependencies
    )


def operations(app: FastAPI) -> list[Operation]:
    """Each (method, path) the app serves under /api/."""
    found = []
    for route in iter_route_contexts(app.routes):
        path, methods = route.path, route.methods
        if not path or not path.startswith("/api/"):
            continue
        dependant: Dependant | None = getattr(route, "dependant", None)
        assert dependant is not None, f"{path}: not a FastAPI route, cannot check its permission"
        for method in sorted(methods or {"WEBSOCKET"}):
            if method == "HEAD":
                continue
            found.append(
                Operation(
                    method=method,
                    path=path,
                    path_params={p.name: p.field_info.annotation for p in dependant.path_params},
                    required_query=tuple(
                        p.alias for p in dependant.query_params if p.field_info.is_required()
                    ),
                    has_body=getattr(route, "body_field", None) is not None,
                    requirements=tuple(_requirements(dependant)),
                    consumer_authenticated=_consumer_authenticated(dependant),
                )
            )
    return found


def documented_operations(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every operation under /api/ in the OpenAPI document."""
    return {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        if path.startswith("/api/")
        for method in item
        if method in ("get", "put", "post", "patch", "delete")
    }


def url(operation: Operation, account_id: str, values: dict[str, str]) -> str:
    """The operation's path with ``accountId`` and the other parameters filled in."""
    filled = operation.path.replace("{accountId}", account_id)
    for name, annotation in operation.path_params.items():
        if name == "accountId":
            continue
        value = values.get(name) or ("999999" if annotation is int else "unknown-9999")
        filled = filled.replace(f"{{{name}}}", value)
    query = {"v": "2.0"}  # the C2M API's version parameter
    params = [f"{q}={query.get(q, '1')}" for q in operation.required_query]
    return filled + ("?" + "&".join(params) if params else "")


HANDOFF_BODY: dict[str, Any] = {
    "name": "Billing deflection",
    "skill": "billing",
    "channels": [{"type": "sms", "messageText": "Hi, reply here instead of waiting."}],
}

# Valid bodies where we know the operation; an unknown operation gets ``{}``.
APP_BODY = {
    "appId": "com.created.by-the-caller",
    "platform": "android",
    "pushService": "proxy",
    "proxy": {"url": "https://push.example.com/notify", "secret": "a secret of 16+ chars"},
}
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("PUT", "/api/account/{accountId}/settings"): {
        "welcomeMessage": {"enabled": True, "text": "changed by the caller"}
    },
    ("POST", "/api/account/{accountId}/skills"): {"name": "created-by-the-caller"},
    ("POST", "/api/account/{accountId}/users"): {
        "username": "created-by-the-caller",
        "password": "a long enough password",
        "roles": ["admin"],
    },
    ("PATCH", "/api/account/{accountId}/users/{userId}"): {"disabled": True},
    ("POST", "/api/account/{accountId}/apikeys"): {
        "name": "created-by-the-caller",
        "scopes": ["c2m"],
    },
    ("POST", "/api/account/{accountId}/handoffs"): HANDOFF_BODY,
    ("POST", "/api/account/{accountId}/apps"): APP_BODY,
    ("PUT", "/api/account/{accountId}/apps/{appId}"): APP_BODY,
    ("PUT", "/api/account/{accountId}/handoffs/{handoffId}"): {**HANDOFF_BODY, "name": "renamed"},
    ("PUT", "/api/account/{accountId}/channels/sms"): {
        "accountSid": "AC" + "0" * 32,
        "authToken": "f" * 32,
        "fromNumber": "+14155550100",
    },
    ("PUT", "/api/account/{accountId}/channels/wa"): {
        "phoneNumberId": "106540352242922",
        "accessToken": "EAAG" + "x" * 40,
        "appSecret": "app-secret-123",
        "verifyToken": "verify-token-123",
    },
    ("POST", "/api/account/{accountId}/eligibility"): {
        "skill": "billing",
        "consumerPhoneNumber": "+14155550100",
        "handoffId": "H1234567890",
    },
    ("POST", "/api/account/{accountId}/invite"): {"callId": "6f1c2a9e-3b1d-4c5e-9a7b-2d4e6f8a0b1c"},
    ("POST", "/api/v2/account/{accountId}/campaign"): {
        "campaignName": "created-by-the-caller",
        "skill": "billing",
        "templateId": "H1234567890",
        "consent": True,
        "consumers": [{"consumerContent": {"sms": "+14155550100"}}],
    },
    ("POST", "/api/v2/account/{accountId}/campaign/{campaignId}/consumers"): {
        "consumers": [{"consumerContent": {"sms": "+14155550100"}}]
    },
    ("PUT", "/api/account/{accountId}/agent/state"): {"state": "AWAY"},
    ("POST", "/api/account/{accountId}/agent/conversations/{conversationId}/messages"): {
        "text": "written by the caller"
    },
    ("POST", "/api/account/{accountId}/agent/conversations/{conversationId}/transfer"): {
        "skill": "billing"
    },
    ("POST", "/api/account/{accountId}/consumer/messages"): {"text": "written by the caller"},
    ("POST", "/api/account/{accountId}/webhooks"): {
        "url": "https://hooks.example.com/parlay",
        "events": ["delivery.*"],
    },
}


def body(operation: Operation) -> dict[str, Any] | None:
    return BODIES.get(operation.key, {}) if operation.has_body else None
