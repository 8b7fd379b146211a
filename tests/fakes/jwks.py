"""A brand's identity provider on 127.0.0.1: serves a JSON Web Key Set and signs consumer JWTs.

``JwksServer`` answers ``GET /jwks.json`` with the current key set, counts every request that
reached it (``fetches``), can rotate its keys (``rotate``) and can be taken down: ``down = True``
answers 503 (still counted), ``stop()`` refuses connections. ``SigningKey`` is one key pair with
its ``kid``, able to mint tokens and to show itself as a JWK or a PEM.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from tests.fakes.loopback import LoopbackServer, Request, Response

ISSUER = "https://id.acme.example"
AUDIENCE = "acme-app"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class SigningKey:
    """One key pair of the brand's identity provider."""

    private_key: PrivateKey
    algorithm: str  # RS256 | ES256
    kid: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @classmethod
    def rsa(cls, kid: str | None = None) -> SigningKey:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(key, "RS256", kid or uuid.uuid4().hex[:12])

    @classmethod
    def ec(cls, kid: str | None = None) -> SigningKey:
        return cls(ec.generate_private_key(ec.SECP256R1()), "ES256", kid or uuid.uuid4().hex[:12])

    @property
    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def jwk(self) -> dict[str, Any]:
        public = self.private_key.public_key()
        if isinstance(public, rsa.RSAPublicKey):
            doc = RSAAlgorithm.to_jwk(public, as_dict=True)
        else:
            doc = ECAlgorithm.to_jwk(public, as_dict=True)
        return {**doc, "kid": self.kid, "alg": self.algorithm, "use": "sig"}

    def token(
        self,
        sub: str | None = "consumer-1",
        *,
        kid: str | bool | None = True,
        algorithm: str | None = None,
        **claims: Any,
    ) -> str:
        """A JWT with valid ``iss``/``aud``/``exp`` unless ``claims`` say otherwise; a claim given
        as ``None`` is left out. ``kid=True`` puts this key's kid in the header, ``False`` none."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": now,
            "exp": now + 300,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        headers = {"kid": self.kid} if kid is True else ({"kid": kid} if kid else {})
        return jwt.encode(
            payload, self.private_key, algorithm=algorithm or self.algorithm, headers=headers
        )


class JwksServer:
    """The identity provider's key endpoint (plain HTTP on loopback, as the settings allow)."""

    PATH = "/jwks.json"

    def __init__(self, *keys: SigningKey) -> None:
        self.keys: list[SigningKey] = list(keys)
        self.fetches = 0
        self.down = False
        self._server = LoopbackServer(self._handle)

    @property
    def url(self) -> str:
        return self._server.url + self.PATH

    def rotate(self, *keys: SigningKey) -> None:
        """Serve ``keys`` from now on (the old ones disappear unless given again)."""
        self.keys = list(keys)

    async def start(self) -> None:
        await self._server.start()

    async def stop(self) -> None:
        await self._server.stop()

    async def _handle(self, request: Request) -> Response:
        self.fetches += 1
        if self.down:
            return Response(503, b"identity provider maintenance")
        if request.method != "GET" or request.path != self.PATH:
            return Response(404)
        body = json.dumps({"keys": [k.jwk() for k in self.keys]}).encode()
        return Response(200, body, (("content-type", "application/json"),))
