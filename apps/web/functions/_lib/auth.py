"""Bearer-token checks for uploads and triggers.

Tokens are verified with pyjwt and an algorithm list pinned by configuration, never taken
from the token's own header: HS256 with ``JWT_SECRET`` by default, or RS256/ES256 with
``JWT_PUBLIC_KEY`` (PEM) and ``JWT_ALGORITHM``. ``exp``, ``iss``, ``aud`` and ``sub`` are
required; ``sub`` is the user. ``alg: none`` and HS/RS confusion fail because the token's
algorithm is not in the pinned list.

Every malformed header is a 401, never a 500: a header value may hold any byte a client
sent (the runtime decodes it as UTF-8 and puts U+FFFD for bytes that are not), and a JWT is
ASCII only (base64url segments and dots), so anything else is refused before pyjwt sees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jwt

from _lib.settings import setting

ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256")


class AuthError(Exception):
    """401 with this message; ``status`` 500 for a server misconfiguration."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Caller:
    user_id: str
    claims: dict[str, Any]


def _key_and_algorithms(env: Any) -> tuple[Any, list[str]]:
    public_key = setting(env, "JWT_PUBLIC_KEY")
    if public_key:
        algorithm = setting(env, "JWT_ALGORITHM", "RS256") or "RS256"
        if algorithm not in ASYMMETRIC:
            raise AuthError(f"Server misconfiguration: JWT_ALGORITHM {algorithm!r} is not an asymmetric algorithm", 500)
        return public_key, [algorithm]
    secret = setting(env, "JWT_SECRET")
    if not secret:
        raise AuthError("Server misconfiguration: JWT_SECRET is not set (see apps/web/.dev.vars)", 500)
    return secret, ["HS256"]


def authenticate(env: Any, authorization: str | None) -> Caller:
    if not isinstance(authorization, str) or not authorization.startswith("Bearer "):
        raise AuthError("missing bearer token: send 'Authorization: Bearer <JWT>'")
    token = authorization[len("Bearer "):].strip()
    if not token.isascii() or not token.isprintable():
        raise AuthError("invalid token: a JWT holds only printable ASCII characters")
    key, algorithms = _key_and_algorithms(env)
    issuer = setting(env, "JWT_ISSUER")
    audience = setting(env, "JWT_AUDIENCE")
    if not issuer or not audience:
        raise AuthError("Server misconfiguration: JWT_ISSUER and JWT_AUDIENCE must be set", 500)
    try:
        claims = jwt.decode(
            token, key, algorithms=algorithms, issuer=issuer, audience=audience,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthError("invalid token: expired") from None
    except jwt.InvalidSignatureError:
        raise AuthError("invalid token: bad signature") from None
    except jwt.InvalidAlgorithmError:
        raise AuthError(f"invalid token: algorithm not allowed (expected {', '.join(algorithms)})") from None
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise AuthError("invalid token: 'sub' must be a non-empty string")
    return Caller(sub, claims)
