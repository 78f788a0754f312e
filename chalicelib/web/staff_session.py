"""Staff browser sessions for the desk: a cookie holding the staff member's access token.

* In AWS: Cognito's hosted UI, authorization code + PKCE (`/desk/login` → Cognito →
  `/desk/callback`), the access token kept in an HttpOnly, Secure, SameSite=Lax cookie
  and verified on every request exactly like a bearer token (RS256 against the JWKS).
* Locally: a dev sign-in page mints a local token for a chosen staff role (never in AWS:
  there only the user pool's RS256 tokens verify).

Every form carries a CSRF token bound to the session (an HMAC of the cookie); a
request authenticated by a bearer token carries no ambient credential and needs none.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from chalicelib.domain.errors import ForbiddenError

if TYPE_CHECKING:
    from chalice.app import Request, Response

    from chalicelib.settings import Settings

SESSION_COOKIE = "oc_desk"
PKCE_COOKIE = "oc_desk_pkce"
SESSION_SECONDS = 8 * 3600


def cookies(request: Request) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    try:
        jar.load(request.headers.get("cookie") or "")
    except Exception:  # a malformed Cookie header is no session, never a 500
        return {}
    return {name: morsel.value for name, morsel in jar.items()}


def session_authorization(request: Request) -> str | None:
    token = cookies(request).get(SESSION_COOKIE)
    return f"Bearer {token}" if token else None


def session_cookie(value: str, settings: Settings, *, max_age: int = SESSION_SECONDS) -> str:
    # Secure everywhere but the plain-http local stack (where browsers would drop it on 127.0.0.1).
    secure = "" if settings.is_local else "; Secure"
    return f"{SESSION_COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}"


def csrf_token(request: Request, settings: Settings) -> str:
    """The token every desk form carries: bound to this session (or, for bearer callers, to their token)."""
    credential = cookies(request).get(SESSION_COOKIE) or (request.headers.get("authorization") or "")
    digest = hmac.new(settings.link_secrets[0].encode(), f"csrf:{credential}".encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(digest.digest()).decode().rstrip("=")


def check_csrf(request: Request, settings: Settings, submitted: str | None) -> None:
    """A cookie-authenticated form post must carry this session's token; bearer posts need none."""
    if request.headers.get("authorization"):
        return
    credential = cookies(request).get(SESSION_COOKIE) or ""
    for secret in settings.link_secrets:
        digest = hmac.new(secret.encode(), f"csrf:{credential}".encode(), hashlib.sha256).digest()
        expected = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if submitted and hmac.compare_digest(expected, submitted):
            return
    raise ForbiddenError("missing or invalid CSRF token", code="csrf_failed")


def sign_in_redirect(request: Request) -> Response:
    from chalice.app import Response

    from chalicelib.settings import get_settings

    target = "/desk/sign-in" if get_settings().is_local else "/desk/login"
    return Response(body="", status_code=303, headers={"Location": target, "Cache-Control": "no-store"})


# --- Cognito hosted UI: authorization code + PKCE ------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def redirect_uri(settings: Settings) -> str:
    return f"{settings.public_base_url}/desk/callback"


def authorize_redirect(settings: Settings) -> tuple[str, str]:
    """(the hosted UI URL to send the browser to, the PKCE cookie to set)."""
    from chalicelib.domain.signing import sign

    verifier = secrets.token_urlsafe(64)
    state = secrets.token_urlsafe(24)
    challenge = _b64(hashlib.sha256(verifier.encode()).digest())
    query = urlencode(
        {
            "response_type": "code",
            "client_id": settings.desk_client_id,
            "redirect_uri": redirect_uri(settings),
            "scope": "openid email",
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
    )
    cookie_value = sign(
        {"k": "pkce", "v": verifier, "s": state, "exp": int(time.time()) + 600}, settings.link_secrets[0]
    )
    cookie = f"{PKCE_COOKIE}={cookie_value}; Path=/desk; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
    return f"{settings.cognito_domain}/oauth2/authorize?{query}", cookie


def pkce_verifier(request: Request, settings: Settings, state: str) -> str:
    """The verifier stored at /desk/login, if `state` is the one sent then (else 403)."""
    from chalicelib.domain.signing import verify

    payload = verify(cookies(request).get(PKCE_COOKIE, ""), settings.link_secrets)
    valid = (
        payload is not None
        and payload.get("k") == "pkce"
        and int(payload.get("exp", 0)) >= time.time()
        and hmac.compare_digest(str(payload.get("s", "")), state)
    )
    if not valid or payload is None:
        raise ForbiddenError("the sign-in expired or was not started here; sign in again", code="sign_in_state")
    return str(payload["v"])


def exchange_code(settings: Settings, code: str, verifier: str, post: Any = None) -> str:
    """Trade the authorization code (and the PKCE verifier) for an access token at Cognito's token endpoint."""
    import json
    from urllib.request import Request as UrlRequest
    from urllib.request import urlopen

    body = urlencode(
        {
            "grant_type": "authorization_code",
            "client_id": settings.desk_client_id,
            "code": code,
            "redirect_uri": redirect_uri(settings),
            "code_verifier": verifier,
        }
    ).encode()
    if not settings.cognito_domain.startswith("https://"):
        raise ForbiddenError("staff sign-in is not configured (OC_COGNITO_DOMAIN)", code="sign_in_unconfigured")
    request = UrlRequest(  # noqa: S310 - https only, checked above
        f"{settings.cognito_domain}/oauth2/token",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    opener = post or urlopen
    with opener(request, timeout=10) as response:
        data = json.load(response)
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise ForbiddenError("the sign-in was refused", code="sign_in_refused")
    return token
