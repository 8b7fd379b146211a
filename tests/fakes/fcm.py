"""A faithful loopback fake of FCM HTTP v1 and Google's OAuth token endpoint.

It serves HTTPS on 127.0.0.1 (``tests.fakes.h2server``): HTTP/2 for clients that offer ``h2``
in ALPN, as fcm.googleapis.com does (many concurrent streams on one connection, at most
``max_concurrent_streams`` of them), HTTP/1.1 for the others. Without an ``ssl_context`` it makes
a fresh test CA; ``ca_bundle`` is the file that trusts it. ``connections`` and ``peak_streams``
count the TLS connections and the most requests ever in flight on one HTTP/2 connection.

* ``POST /token``: the JWT-bearer grant. The RS256 assertion is verified with the public key of
  the service account it names (``iss``), its ``aud`` must be this token URI, its ``scope`` must
  allow FCM and it may live at most an hour; Google's ``invalid_grant`` / ``invalid_scope`` /
  ``unsupported_grant_type`` bodies otherwise. Access tokens expire after ``token_lifetime``.
* ``POST /v1/projects/<project>/messages:send``: the bearer must be a live token of a service
  account of that project (401 UNAUTHENTICATED / 403 PERMISSION_DENIED); the message must have
  exactly one target, known fields only, string-only ``data`` without reserved keys, a valid
  ``android.ttl`` and ``priority``, string ``apns.headers``, at most 4096 payload bytes, a
  well-formed registration token; then ``{"name": "projects/<p>/messages/<id>"}``.
  ``validate_only`` answers without recording. An optional per-minute quota answers 429
  QUOTA_EXCEEDED with ``Retry-After``. Errors carry Google's JSON error body with the FcmError
  (and BadRequest) details.

Faults are scripted per registration token, one outcome consumed per request (then normal):
``unregistered`` (404) · ``invalid_argument`` (400, invalid token) · ``invalid_argument:<msg>``
(400, another reason) · ``sender_id_mismatch`` (403) · ``permission_denied`` (403, no FcmError) ·
``third_party_auth_error`` (401) · ``quota[:<retry-after>]`` (429) ·
``unavailable[:<retry-after>]`` (503) · ``internal`` (500) · ``slow:<seconds>`` (answer late) ·
``drop`` (close the connection without an answer) · ``goaway`` (HTTP/2 GOAWAY without answering
the request; HTTP/1.1: drop) · ``text:<status>:<body>`` (not Google's JSON). The token endpoint
takes ``unavailable``, ``slow:<s>``, ``drop`` and ``refuse:<error>:<description>``
(``script_token_endpoint``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import secrets
import ssl
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.h2server import GOAWAY, Answer, H2Server
from tests.fakes.loopback import Request, Response

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
FCM_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/firebase.messaging",
        "https://www.googleapis.com/auth/cloud-platform",
    }
)
FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300  # how far in the future an assertion's iat may be
MAX_PAYLOAD_BYTES = 4096
MAX_TTL_SECONDS = 2_419_200
RESERVED_DATA_KEYS = frozenset({"from", "message_type"})
RESERVED_DATA_PREFIXES = ("google", "gcm")
MESSAGE_FIELDS = frozenset(
    {"name", "data", "notification", "android", "webpush", "apns", "fcm_options"}
    | {"token", "topic", "condition"}
)
TARGETS = ("token", "topic", "condition")
ANDROID_FIELDS = frozenset(
    {"collapse_key", "priority", "ttl", "restricted_package_name", "data", "notification"}
    | {"fcm_options", "direct_boot_ok"}
)
APNS_FIELDS = frozenset({"headers", "payload", "fcm_options", "live_activity_token"})
TTL = re.compile(r"^(\d+)(\.\d{1,9})?s$")
REGISTRATION_TOKEN = re.compile(r"^[A-Za-z0-9_\-:.]{1,4096}$")
SEND_PATH = re.compile(r"^/v1/projects/([^/]+)/messages:send$")
INVALID_TOKEN_MESSAGE = "The registration token is not a valid FCM registration token"
UNAUTHENTICATED_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)
BAD_TIMES = (
    "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. "
    "Check your iat and exp values in the JWT claim."
)


_KEY_POOL: list[rsa.RSAPrivateKey] = []
_KEY_POOL_SIZE = 4
_key_turn = itertools.count()


def _next_key() -> rsa.RSAPrivateKey:
    turn = next(_key_turn) % _KEY_POOL_SIZE
    if turn == len(_KEY_POOL):
        _KEY_POOL.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    return _KEY_POOL[turn]


def make_service_account(
    token_uri: str, *, project_id: str = "parlay-test", client_email: str | None = None
) -> dict[str, Any]:
    """A service-account key file like the one Google issues; consecutive calls never share
    an RSA key (keys come round-robin from a small pool: generating one takes ~0.1 s)."""
    key = _next_key()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    email = client_email or f"parlay-{secrets.token_hex(3)}@{project_id}.iam.gserviceaccount.com"
    return {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": pem,
        "client_email": email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "universe_domain": "googleapis.com",
    }


@dataclass(frozen=True)
class TokenRequest:
    """One call of the token endpoint: what it was sent and what it answered."""

    form: dict[str, str]
    claims: dict[str, Any] | None  # the assertion's claims when its signature verified
    status: int
    access_token: str | None


@dataclass(frozen=True)
class SendRequest:
    """One call of messages:send that reached the fake."""

    project_id: str
    headers: dict[str, str]
    body: bytes
    status: int = 0  # 0: no answer (dropped, GOAWAY)
    connection: int = 0  # the 1-based number of the TLS connection it came on


@dataclass(frozen=True)
class SentMessage:
    """A message FCM accepted."""

    name: str
    project_id: str
    message: dict[str, Any]
    access_token: str


@dataclass(frozen=True)
class _Account:
    email: str
    project_id: str
    key_id: str
    public_key: rsa.RSAPublicKey


@dataclass(frozen=True)
class _AccessToken:
    email: str
    project_id: str
    expires_at: float


def google_error(
    code: int,
    status: str,
    message: str,
    fcm_code: str | None = None,
    violations: list[dict[str, str]] | None = None,
    headers: tuple[tuple[str, str], ...] = (),
) -> Response:
    """Google's JSON error body, with the FcmError and BadRequest details when given."""
    details: list[dict[str, Any]] = []
    if fcm_code:
        details.append({"@type": FCM_ERROR, "errorCode": fcm_code})
    if violations:
        details.append({"@type": BAD_REQUEST, "fieldViolations": violations})
    error: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        error["details"] = details
    return Response.json(code, {"error": error}, headers)


def _invalid(message: str, field: str | None = None, fcm: bool = True) -> Response:
    violations = [{"field": field, "description": message}] if field else None
    return google_error(
        400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT" if fcm else None, violations
    )


def _oauth_error(error: str, description: str) -> Response:
    return Response.json(400, {"error": error, "error_description": description})


def payload_size(message: dict[str, Any]) -> int:
    """What counts against the 4096 bytes: data keys and values, and the title and body of the
    notification and of the APNs alert."""
    size = 0
    for key, value in (message.get("data") or {}).items():
        size += len(str(key).encode()) + len(str(value).encode())
    aps = ((message.get("apns") or {}).get("payload") or {}).get("aps") or {}
    given = aps.get("alert")
    alert = given if isinstance(given, dict) else {}
    for shown in (message.get("notification") or {}, alert):
        for name in ("title", "body"):
            size += len(str(shown.get(name) or "").encode())
    return size


class FcmFake:
    def __init__(
        self,
        *,
        token_lifetime: int = 3599,
        clock: Callable[[], float] = time.time,
        messages_per_minute: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        ca_bundle: str = "",
        max_concurrent_streams: int = 1000,
    ) -> None:
        """``ssl_context`` (with ``ca_bundle``, the CA file that trusts it) or a fresh test CA."""
        self.token_lifetime = token_lifetime
        self.clock = clock
        self.messages_per_minute = messages_per_minute
        self.server = H2Server(
            self._handle,
            ssl_context=ssl_context,
            ca_bundle=ca_bundle,
            max_concurrent_streams=max_concurrent_streams,
        )
        self.token_requests: list[TokenRequest] = []
        self.send_requests: list[SendRequest] = []
        self.accepted: list[SentMessage] = []
        self._accounts: dict[str, _Account] = {}
        self._access: dict[str, _AccessToken] = {}
        self._scripts: dict[str, deque[str]] = defaultdict(deque)
        self._token_script: deque[str] = deque()
        self._quota: dict[str, tuple[float, int]] = {}  # project → (window start, count)

    # --- test controls -----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """FCM's base URL (``FcmCredentials.endpoint``)."""
        return self.server.url

    @property
    def token_uri(self) -> str:
        return f"{self.server.url}/token"

    @property
    def ca_bundle(self) -> str:
        """The CA file a client must trust (set once the fake has started)."""
        return self.server.ca_bundle

    @property
    def connections(self) -> int:
        return self.server.stats.connections

    @property
    def peak_streams(self) -> int:
        return self.server.stats.peak_streams

    def service_account(
        self, *, project_id: str = "parlay-test", client_email: str | None = None
    ) -> dict[str, Any]:
        """A new service account this fake knows (its token URI points here)."""
        account = make_service_account(
            self.token_uri, project_id=project_id, client_email=client_email
        )
        self.register(account)
        return account

    def register(self, account: dict[str, Any]) -> None:
        """Trust the public key of this service-account key file."""
        key = serialization.load_pem_private_key(account["private_key"].encode(), password=None)
        assert isinstance(key, rsa.RSAPrivateKey)
        self._accounts[account["client_email"]] = _Account(
            account["client_email"],
            account["project_id"],
            account["private_key_id"],
            key.public_key(),
        )

    def script(self, token: str, *outcomes: str) -> None:
        """Outcomes for the next sends to this registration token, one per request."""
        self._scripts[token].extend(outcomes)

    def script_token_endpoint(self, *outcomes: str) -> None:
        self._token_script.extend(outcomes)

    def revoke_access_tokens(self) -> None:
        """Forget every issued access token (as Google does when a key is disabled)."""
        self._access.clear()

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        """Stop listening and cut every connection (``start`` serves again, on a new port)."""
        await self.server.stop()

    # --- HTTP ----------------------------------------------------------------------------------

    def _handle(self, request: Request) -> Answer | Awaitable[Answer]:
        if request.method == "POST" and request.path == "/token":
            return self._token(request)
        match = SEND_PATH.match(request.path)
        if request.method == "POST" and match:
            return self._send(request, match.group(1))
        return google_error(404, "NOT_FOUND", f"The requested URL {request.path} was not found.")

    def _token(self, request: Request) -> Answer | Awaitable[Answer]:
        outcome = self._token_script.popleft() if self._token_script else "ok"
        name, _, argument = outcome.partition(":")
        if name == "slow":
            return _after(float(argument), lambda: self._token_answer(request, "ok"))
        return self._token_answer(request, outcome)

    def _token_answer(self, request: Request, outcome: str) -> Response | None:
        form = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        claims: dict[str, Any] | None = None
        access_token: str | None = None
        if outcome == "drop":
            response: Response | None = None
        elif outcome == "unavailable":
            response = Response.json(503, {"error": "temporarily_unavailable"})
        elif outcome.startswith("refuse:"):
            _, error, description = outcome.split(":", 2)
            response = _oauth_error(error, description)
        else:
            response, claims = self._grant(request, form)
            if response.status == 200:
                access_token = json.loads(response.body)["access_token"]
        status = response.status if response else 0
        self.token_requests.append(TokenRequest(form, claims, status, access_token))
        return response

    def _grant(
        self, request: Request, form: dict[str, str]
    ) -> tuple[Response, dict[str, Any] | None]:
        if not request.headers.get("content-type", "").startswith(
            "application/x-www-form-urlencoded"
        ):
            return _oauth_error("invalid_request", "Invalid Content-Type"), None
        if form.get("grant_type") != JWT_BEARER_GRANT:
            grant = form.get("grant_type", "")
            return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}"), None
        assertion = form.get("assertion", "")
        try:
            header = jwt.get_unverified_header(assertion)
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return _oauth_error("invalid_grant", "Invalid JWT."), None
        account = self._accounts.get(str(unverified.get("iss")))
        if account is None:
            return _oauth_error("invalid_grant", "Invalid grant: account not found"), None
        if header.get("alg") != "RS256" or header.get("kid", account.key_id) != account.key_id:
            return _oauth_error("invalid_grant", "Invalid JWT Signature."), None
        try:
            claims = jwt.decode(
                assertion,
                account.public_key,
                algorithms=["RS256"],
                audience=self.token_uri,
                options={
                    "require": ["iss", "aud", "iat", "exp", "scope"],
                    "verify_exp": False,  # checked below against the fake's clock
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidSignatureError:
            return _oauth_error("invalid_grant", "Invalid JWT Signature."), None
        except jwt.InvalidAudienceError:
            return _oauth_error("invalid_grant", "Invalid JWT: Failed audience check."), None
        except jwt.PyJWTError as exc:
            return _oauth_error("invalid_grant", f"Invalid JWT: {exc}"), None
        now = self.clock()
        iat, exp = claims["iat"], claims["exp"]
        if not (iat - CLOCK_SKEW <= now < exp) or exp - iat > MAX_ASSERTION_LIFETIME:
            return _oauth_error("invalid_grant", BAD_TIMES), claims
        if not FCM_SCOPES & set(str(claims["scope"]).split()):
            return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience"), claims
        token = f"ya29.fake-{secrets.token_urlsafe(24)}"
        self._access[token] = _AccessToken(
            account.email, account.project_id, now + self.token_lifetime
        )
        doc = {"access_token": token, "expires_in": self.token_lifetime, "token_type": "Bearer"}
        return Response.json(200, doc), claims

    def _send(self, request: Request, project_id: str) -> Answer | Awaitable[Answer]:
        connection = self.server.current_connection
        answer = self._answer(request, project_id)
        if isinstance(answer, tuple):  # a slow answer: the rest of the work comes later
            delay, rest = answer
            return _after(delay, lambda: self._record(request, project_id, connection, rest()))
        return self._record(request, project_id, connection, answer)

    def _record(self, request: Request, project_id: str, connection: int, answer: Answer) -> Answer:
        status = answer.status if isinstance(answer, Response) else 0
        self.send_requests.append(
            SendRequest(project_id, request.headers, request.body, status, connection)
        )
        return answer

    def _answer(
        self, request: Request, project_id: str
    ) -> Answer | tuple[float, Callable[[], Answer]]:
        scheme, _, bearer = request.headers.get("authorization", "").partition(" ")
        access = self._access.get(bearer) if scheme.lower() == "bearer" else None
        if access is None or self.clock() >= access.expires_at:
            return google_error(
                401,
                "UNAUTHENTICATED",
                UNAUTHENTICATED_MESSAGE,
                headers=(("www-authenticate", 'Bearer realm="https://accounts.google.com/"'),),
            )
        if access.project_id != project_id:
            return google_error(
                403,
                "PERMISSION_DENIED",
                f"Permission 'cloudmessaging.messages.create' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{project_id}' "
                f"(or it may not exist).",
            )
        try:
            body = request.json()
        except ValueError:
            return _invalid("Invalid JSON payload received.", fcm=False)
        problem = _check_body(body)
        if problem is not None:
            return problem
        message = body["message"]
        token = message.get("token")
        if token is not None:
            outcome = self._scripts[token].popleft() if self._scripts.get(token) else "ok"
            name, _, argument = outcome.partition(":")
            if name == "slow":
                return float(argument), lambda: self._accept(project_id, body, bearer)
            if name == "goaway":
                return GOAWAY
            if name != "ok":
                return _scripted(name, argument)
        return self._accept(project_id, body, bearer)

    def _accept(self, project_id: str, body: dict[str, Any], bearer: str) -> Response:
        quota = self._spend_quota(project_id)
        if quota is not None:
            return quota
        name = f"projects/{project_id}/messages/0:{uuid.uuid4().hex}"
        if not body.get("validate_only"):
            self.accepted.append(SentMessage(name, project_id, body["message"], bearer))
        else:
            name = f"projects/{project_id}/messages/fake_message_id"
        return Response.json(200, {"name": name})

    def _spend_quota(self, project_id: str) -> Response | None:
        if self.messages_per_minute is None:
            return None
        now = self.clock()
        start, count = self._quota.get(project_id, (now, 0))
        if now - start >= 60:
            start, count = now, 0
        if count >= self.messages_per_minute:
            wait = max(1, int(start + 60 - now + 0.999))
            return google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Quota exceeded for quota metric 'Send messages' of service 'fcm.googleapis.com'.",
                "QUOTA_EXCEEDED",
                headers=(("retry-after", str(wait)),),
            )
        self._quota[project_id] = (start, count + 1)
        return None


def _check_body(body: Any) -> Response | None:
    """FCM's validation of a send request, as far as Parlay's messages can tell."""
    if not isinstance(body, dict):
        return _invalid("Invalid JSON payload received.", fcm=False)
    unknown = set(body) - {"message", "validate_only"}
    if unknown:
        name = sorted(unknown)[0]
        return _invalid(f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.')
    message = body.get("message")
    if not isinstance(message, dict):
        return _invalid("Request contains an invalid argument.", "message")
    unknown = set(message) - MESSAGE_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        return _invalid(
            f"Invalid JSON payload received. Unknown name \"{name}\" at 'message': "
            "Cannot find field.",
            fcm=False,
        )
    targets = [t for t in TARGETS if message.get(t)]
    if len(targets) != 1:
        return _invalid("Exactly one of token, topic or condition must be specified.", "message")
    data = message.get("data") or {}
    if not isinstance(data, dict):
        return _invalid("Invalid value at 'message.data'.", "message.data", fcm=False)
    for index, (key, value) in enumerate(data.items()):
        if not isinstance(value, str):
            return _invalid(
                f"Invalid value at 'message.data[{index}].value' (TYPE_STRING), "
                f"{json.dumps(value)}",
                f"message.data[{index}].value",
                fcm=False,
            )
        if key in RESERVED_DATA_KEYS or key.lower().startswith(RESERVED_DATA_PREFIXES):
            return _invalid(f"Invalid data payload key: {key}", "message.data")
    android = message.get("android") or {}
    if not isinstance(android, dict) or set(android) - ANDROID_FIELDS:
        return _invalid("Invalid JSON payload received at 'message.android'.", fcm=False)
    if "ttl" in android:
        match = TTL.match(str(android["ttl"]))
        if not match:
            return _invalid(
                "Invalid value at 'message.android.ttl' "
                f"(type.googleapis.com/google.protobuf.Duration), {json.dumps(android['ttl'])}",
                "message.android.ttl",
                fcm=False,
            )
        if int(match.group(1)) > MAX_TTL_SECONDS:
            return _invalid("TTL must be at most 4 weeks (2419200s).", "message.android.ttl")
    if android.get("priority", "NORMAL") not in ("NORMAL", "HIGH"):
        return _invalid(
            f"Invalid value at 'message.android.priority' "
            f"(type.googleapis.com/google.firebase.fcm.v1.AndroidMessagePriority), "
            f"{json.dumps(android['priority'])}",
            "message.android.priority",
            fcm=False,
        )
    apns = message.get("apns") or {}
    if not isinstance(apns, dict) or set(apns) - APNS_FIELDS:
        return _invalid("Invalid JSON payload received at 'message.apns'.", fcm=False)
    apns_headers = apns.get("headers") or {}
    if not isinstance(apns_headers, dict) or not all(
        isinstance(v, str) for v in apns_headers.values()
    ):
        return _invalid("Invalid value at 'message.apns.headers'.", "message.apns.headers")
    if "payload" in apns and not isinstance((apns["payload"] or {}).get("aps", {}), dict):
        return _invalid("Invalid APNs payload: aps must be an object.", "message.apns.payload")
    if payload_size(message) > MAX_PAYLOAD_BYTES:
        return _invalid("Android message is too big", "message")
    token = message.get("token")
    if token is not None and not REGISTRATION_TOKEN.match(str(token)):
        return _invalid(INVALID_TOKEN_MESSAGE, "message.token")
    return None


def _scripted(name: str, argument: str) -> Response | None:
    retry_after = (("retry-after", argument),) if argument else ()
    if name == "drop":
        return None
    if name == "unregistered":
        return google_error(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
    if name == "invalid_argument":
        if argument:
            return _invalid(argument)
        return _invalid(INVALID_TOKEN_MESSAGE, "message.token")
    if name == "sender_id_mismatch":
        return google_error(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH")
    if name == "permission_denied":
        return google_error(
            403,
            "PERMISSION_DENIED",
            "Permission 'cloudmessaging.messages.create' denied on resource.",
        )
    if name == "third_party_auth_error":
        return google_error(
            401, "UNAUTHENTICATED", "Auth error from APNS or Web Push Service", name.upper()
        )
    if name == "quota":
        return google_error(
            429,
            "RESOURCE_EXHAUSTED",
            "Quota exceeded for quota metric 'Send messages'.",
            "QUOTA_EXCEEDED",
            headers=retry_after,
        )
    if name == "unavailable":
        return google_error(
            503,
            "UNAVAILABLE",
            "The service is currently unavailable.",
            "UNAVAILABLE",
            headers=retry_after,
        )
    if name == "internal":
        return google_error(500, "INTERNAL", "Internal error encountered.", "INTERNAL")
    if name == "text":  # a body that is not Google's: a proxy or load balancer in between
        status, _, text = argument.partition(":")
        return Response(int(status), text.encode(), (("content-type", "text/html"),))
    raise ValueError(f"unknown FCM fake outcome: {name}")


async def _after(delay: float, answer: Callable[[], Answer]) -> Answer:
    await asyncio.sleep(delay)
    return answer()


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[FcmFake]:
    """An FCM fake serving on 127.0.0.1 for the duration of the block."""
    fake = FcmFake(**options)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
        fake.server.cleanup()
