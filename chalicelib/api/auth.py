"""Bearer-token verification, the same code path locally and in AWS.

Tokens are shaped like Amazon Cognito's: the role comes from the
`cognito:groups` claim (customer, agent, admin) or, for the storefront's
client-credentials token, from its `client_id` / `ordercare/storefront` scope.

* Locally (`OC_ENVIRONMENT=local`) tokens are HS256-signed with a dev secret;
  `make -s token` mints them.
* In AWS the verifier fetches the user pool's JWKS (`OC_COGNITO_JWKS_URL`),
  accepts only RS256, and checks the issuer (the pool URL) and the app clients.

PyJWT is imported lazily: it pulls in `cryptography`, which cold starts of
public routes never need.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from chalicelib.domain.errors import ForbiddenError, UnauthorizedError

if TYPE_CHECKING:
    from chalicelib.settings import Settings

ROLES = ("customer", "agent", "admin", "storefront")
STOREFRONT_SCOPE = "ordercare/storefront"


@dataclass(frozen=True)
class Principal:
    """Who is calling: a role and a subject (the customer id for customers)."""

    role: str
    subject: str

    def require(self, *roles: str) -> Principal:
        if self.role not in roles:
            raise ForbiddenError(f"role '{self.role}' may not do this")
        return self


ACCESS_TOKEN_USE = "access"  # noqa: S105 - Cognito's token_use claim value, not a secret # nosec B105


def mint_local_token(settings: Settings, role: str, sub: str, ttl_seconds: int = 8 * 3600) -> str:
    """A token the local stack accepts (never valid in AWS: there only RS256 is accepted)."""
    import jwt

    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": sub,
        "iss": settings.jwt_issuer,
        "iat": now,
        "exp": now + ttl_seconds,
        "token_use": ACCESS_TOKEN_USE,
    }
    if role == "storefront":
        claims["client_id"] = sub
        claims["scope"] = STOREFRONT_SCOPE
    else:
        claims["cognito:groups"] = [role]
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256")


def authenticate(settings: Settings, authorization: str | None) -> Principal:
    """Verify an `Authorization: Bearer` header and return the caller."""
    if not authorization:
        raise UnauthorizedError("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("expected 'Authorization: Bearer <token>'")
    claims = _decode(settings, token.strip())
    return _principal_from_claims(settings, claims)


def _decode(settings: Settings, token: str) -> dict[str, Any]:
    import jwt

    options: Any = {"require": ["exp", "iat", "sub", "iss"]}
    cognito_options: Any = {**options, "verify_aud": False}  # client checked below
    try:
        if settings.cognito_jwks_url:
            signing_key = _jwks_client(settings.cognito_jwks_url).get_signing_key_from_jwt(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                signing_key.key,
                algorithms=["RS256"],
                issuer=settings.jwt_issuer,
                options=cognito_options,
            )
            _check_cognito_client(settings, claims)
            return claims
        if not settings.is_local:
            # Outside the local stack only the user pool's RS256 keys are trusted.
            raise UnauthorizedError("token verification is not configured (OC_COGNITO_JWKS_URL)")
        return jwt.decode(
            token,
            settings.jwt_secret,
            algorithms=["HS256"],
            issuer=settings.jwt_issuer,
            options=options,
        )
    except jwt.ExpiredSignatureError as exc:
        raise UnauthorizedError("token expired") from exc
    except (jwt.PyJWTError, ValueError) as exc:
        raise UnauthorizedError("invalid token") from exc


def _check_cognito_client(settings: Settings, claims: dict[str, Any]) -> None:
    """Only access tokens, issued to one of our app clients, are accepted."""
    if claims.get("token_use") != ACCESS_TOKEN_USE:
        raise UnauthorizedError("an access token is required")
    allowed = set(filter(None, settings.jwt_audience.split(","))) | set(settings.storefront_client_ids)
    if not allowed or claims.get("client_id") not in allowed:
        raise UnauthorizedError("token issued for another client")


@functools.lru_cache(maxsize=4)
def _jwks_client(url: str) -> Any:
    import jwt

    return jwt.PyJWKClient(url, cache_keys=True, lifespan=3600)


def _principal_from_claims(settings: Settings, claims: dict[str, Any]) -> Principal:
    subject = str(claims.get("sub") or "").strip()
    if not subject:  # every owner check compares subjects: an empty one must never match anything
        raise UnauthorizedError("invalid token")
    scopes = str(claims.get("scope") or "").split()
    client_id = claims.get("client_id")
    # In AWS the storefront is a known client; locally any client with the scope is.
    known_client = client_id in settings.storefront_client_ids or settings.is_local
    if (STOREFRONT_SCOPE in scopes and known_client) or client_id in settings.storefront_client_ids:
        return Principal(role="storefront", subject=str(claims.get("client_id") or subject).strip() or subject)
    groups = claims.get("cognito:groups") or []
    if not isinstance(groups, list):
        raise UnauthorizedError("invalid token")
    # The most privileged group wins when a user is in several.
    for role in ("admin", "agent", "customer"):
        if role in groups:
            return Principal(role=role, subject=subject)
    raise ForbiddenError("token carries no OrderCare role")
