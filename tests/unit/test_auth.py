"""Bearer-token verification: local HS256 tokens and Cognito RS256 tokens via JWKS."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.api import auth
from chalicelib.api.auth import ROLES, STOREFRONT_SCOPE, Principal, authenticate, mint_local_token
from chalicelib.domain.errors import ForbiddenError, UnauthorizedError
from chalicelib.settings import Settings

LOCAL = Settings()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def hand_made(header: dict[str, Any], claims: dict[str, Any], key: bytes | None) -> str:
    """A JWT built by hand (PyJWT refuses to make the malicious ones)."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}"
    signature = b64(hmac.new(key, signing_input.encode(), hashlib.sha256).digest()) if key else ""
    return f"{signing_input}.{signature}"


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "cus_alice",
        "iss": LOCAL.jwt_issuer,
        "iat": now,
        "exp": now + 600,
        "token_use": "access",
        "cognito:groups": ["customer"],
    }
    base.update(overrides)
    return {key: value for key, value in base.items() if value is not None}


def local_token(**overrides: Any) -> str:
    return str(jwt.encode(claims(**overrides), LOCAL.jwt_secret, algorithm="HS256"))


def bearer(token: str) -> str:
    return f"Bearer {token}"


def assert_unauthorized(settings: Settings, header: str | None, message: str | None = None) -> None:
    with pytest.raises(UnauthorizedError) as raised:
        authenticate(settings, header)
    assert raised.value.status == 401 and raised.value.code == "unauthorized"
    if message:
        assert message in raised.value.message


# --- local tokens --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_minted_tokens_authenticate_as_their_role(role: str) -> None:
    token = mint_local_token(LOCAL, role, "subject-1")
    assert authenticate(LOCAL, bearer(token)) == Principal(role=role, subject="subject-1")


def test_minted_storefront_token_looks_like_client_credentials() -> None:
    decoded = jwt.decode(mint_local_token(LOCAL, "storefront", "web"), options={"verify_signature": False})
    assert decoded["client_id"] == "web" and decoded["scope"] == STOREFRONT_SCOPE
    assert "cognito:groups" not in decoded


def test_mint_refuses_unknown_roles() -> None:
    with pytest.raises(ValueError, match="role"):
        mint_local_token(LOCAL, "root", "x")


def test_scheme_is_case_insensitive_and_whitespace_tolerated() -> None:
    token = mint_local_token(LOCAL, "agent", "agt_1")
    assert authenticate(LOCAL, f"bearer {token}").role == "agent"
    assert authenticate(LOCAL, f"Bearer  {token} ").role == "agent"


def test_expired_token() -> None:
    token = mint_local_token(LOCAL, "customer", "cus_alice", ttl_seconds=-1)
    assert_unauthorized(LOCAL, bearer(token), "expired")


def test_alg_none_is_rejected() -> None:
    token = hand_made({"alg": "none", "typ": "JWT"}, claims(), None)
    assert_unauthorized(LOCAL, bearer(token), "invalid")
    assert_unauthorized(LOCAL, bearer(token.rstrip(".") + ".x"))


def test_token_signed_with_another_secret_is_rejected() -> None:
    token = jwt.encode(claims(), "some-other-secret-of-enough-length-32b", algorithm="HS256")
    assert_unauthorized(LOCAL, bearer(token), "invalid")


def test_token_with_a_tampered_payload_is_rejected() -> None:
    header, _, signature = local_token().split(".")
    payload = b64(json.dumps(claims(**{"cognito:groups": ["admin"]})).encode())
    assert_unauthorized(LOCAL, bearer(f"{header}.{payload}.{signature}"))


def test_wrong_issuer_is_rejected() -> None:
    assert_unauthorized(LOCAL, bearer(local_token(iss="someone-else")))


@pytest.mark.parametrize("missing", ["sub", "iss", "exp", "iat"])
def test_required_claims(missing: str) -> None:
    assert_unauthorized(LOCAL, bearer(local_token(**{missing: None})))


def test_token_not_yet_valid_is_rejected() -> None:
    assert_unauthorized(LOCAL, bearer(local_token(nbf=int(time.time()) + 3600)))


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Bearer    ",
        "Basic dXNlcjpwYXNz",
        "Token abc",
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer é.ü.ö",
        f"Basic {mint_local_token(LOCAL, 'admin', 'x')}",  # a valid token behind the wrong scheme
    ],
)
def test_missing_or_malformed_header(header: str | None) -> None:
    assert_unauthorized(LOCAL, header)


@pytest.mark.parametrize("groups", [None, [], ["superuser"], ["Admin"]])
def test_token_without_a_role_is_forbidden(groups: list[str] | None) -> None:
    with pytest.raises(ForbiddenError) as raised:
        authenticate(LOCAL, bearer(local_token(**{"cognito:groups": groups})))
    assert raised.value.status == 403 and raised.value.code == "forbidden"


def test_groups_must_be_a_list() -> None:
    assert_unauthorized(LOCAL, bearer(local_token(**{"cognito:groups": "admin"})))


def test_most_privileged_group_wins() -> None:
    token = local_token(**{"cognito:groups": ["customer", "admin", "agent"]})
    assert authenticate(LOCAL, bearer(token)) == Principal("admin", "cus_alice")


def test_principal_require() -> None:
    principal = Principal("customer", "cus_alice")
    assert principal.require("customer", "agent") is principal
    with pytest.raises(ForbiddenError) as raised:
        principal.require("agent", "admin")
    assert raised.value.status == 403 and "customer" in raised.value.message
    with pytest.raises(ForbiddenError):
        principal.require()


def test_aws_without_jwks_does_not_accept_local_tokens() -> None:
    # Regression: outside the local stack a missing OC_COGNITO_JWKS_URL used to fall back to HS256
    # with the public dev secret, so `make token` tokens were accepted in AWS (fail-open).
    token = mint_local_token(LOCAL, "admin", "attacker")
    assert_unauthorized(Settings(environment="aws"), bearer(token))
    assert authenticate(LOCAL, bearer(token)).role == "admin"  # while the local stack accepts it


# --- Cognito (RS256 via JWKS) ----------------------------------------------------------------------

POOL = "https://cognito-idp.eu-central-1.amazonaws.com/eu-central-1_TestPool"
COGNITO = replace(
    LOCAL,
    environment="aws",
    jwt_secret="",
    jwt_issuer=POOL,
    jwt_audience="webclient",
    cognito_jwks_url=f"{POOL}/.well-known/jwks.json",
    storefront_client_ids=("storefrontclient",),
)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def jwks(monkeypatch: pytest.MonkeyPatch, rsa_key: rsa.RSAPrivateKey) -> list[str]:
    """Serve the key's public half as the pool's JWKS; returns the URLs asked for."""
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update(kid="test-key", alg="RS256", use="sig")
    document = {"keys": [jwk]}
    requested: list[str] = []

    class FakeJwksClient:
        def get_signing_key_from_jwt(self, token: str) -> Any:
            kid = jwt.get_unverified_header(token).get("kid")
            for key in document["keys"]:
                if key["kid"] == kid:
                    return jwt.PyJWK(key)
            raise jwt.PyJWKClientError(f"no key {kid}")

    def fake_client(url: str) -> FakeJwksClient:
        requested.append(url)
        return FakeJwksClient()

    monkeypatch.setattr(auth, "_jwks_client", fake_client)
    return requested


def cognito_claims(**overrides: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {"iss": POOL, "client_id": "webclient", "sub": "a1b2c3", "username": "alice"}
    return claims(**{**defaults, **overrides})


def rs256(private_key: rsa.RSAPrivateKey, payload: dict[str, Any], kid: str = "test-key") -> str:
    return str(jwt.encode(payload, private_key, algorithm="RS256", headers={"kid": kid}))


def test_cognito_user_token_is_accepted(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    token = rs256(rsa_key, cognito_claims(**{"cognito:groups": ["agent"]}))
    assert authenticate(COGNITO, bearer(token)) == Principal("agent", "a1b2c3")
    assert jwks == [COGNITO.cognito_jwks_url]


def test_cognito_id_tokens_are_refused(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    # Only access tokens authorise API calls (ID tokens describe a user to the client).
    token = rs256(rsa_key, cognito_claims(client_id=None, aud="webclient", token_use="id"))
    assert_unauthorized(COGNITO, bearer(token))


def test_cognito_wrong_issuer(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    assert_unauthorized(COGNITO, bearer(rs256(rsa_key, cognito_claims(iss=f"{POOL}-other"))))
    assert_unauthorized(COGNITO, bearer(rs256(rsa_key, cognito_claims(iss=LOCAL.jwt_issuer))))


def test_cognito_expired(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    expired = cognito_claims(iat=int(time.time()) - 7200, exp=int(time.time()) - 3600)
    assert_unauthorized(COGNITO, bearer(rs256(rsa_key, expired)), "expired")


def test_cognito_signed_by_another_key(jwks: list[str]) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert_unauthorized(COGNITO, bearer(rs256(stranger, cognito_claims())), "invalid")


def test_cognito_unknown_kid(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    assert_unauthorized(COGNITO, bearer(rs256(rsa_key, cognito_claims(), kid="rotated-away")))


def test_cognito_rejects_hs256_algorithm_confusion(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    public_pem = rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    token = hand_made({"alg": "HS256", "typ": "JWT", "kid": "test-key"}, cognito_claims(), public_pem)
    assert_unauthorized(COGNITO, bearer(token))


def test_cognito_rejects_local_hs256_tokens(jwks: list[str]) -> None:
    local = mint_local_token(replace(LOCAL, jwt_issuer=POOL), "admin", "x")
    assert_unauthorized(COGNITO, bearer(local))


def test_cognito_rejects_alg_none(jwks: list[str]) -> None:
    assert_unauthorized(COGNITO, bearer(hand_made({"alg": "none", "kid": "test-key"}, cognito_claims(), None)))


def test_cognito_client_not_allowed(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    token = rs256(rsa_key, cognito_claims(client_id="someone-elses-app"))
    assert_unauthorized(COGNITO, bearer(token), "another client")
    no_client = rs256(rsa_key, cognito_claims(client_id=None))
    assert_unauthorized(COGNITO, bearer(no_client), "another client")


def test_cognito_storefront_client_credentials(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    payload = cognito_claims(
        sub="storefrontclient",
        client_id="storefrontclient",
        scope=STOREFRONT_SCOPE,
        username=None,
        **{"cognito:groups": None},
    )
    assert authenticate(COGNITO, bearer(rs256(rsa_key, payload))) == Principal("storefront", "storefrontclient")


def test_cognito_storefront_scope_among_others(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    payload = cognito_claims(
        sub="storefrontclient",
        client_id="storefrontclient",
        scope=f"openid {STOREFRONT_SCOPE} ordercare/other",
        **{"cognito:groups": None},
    )
    assert authenticate(COGNITO, bearer(rs256(rsa_key, payload))).role == "storefront"


def test_cognito_user_without_group_is_forbidden(jwks: list[str], rsa_key: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ForbiddenError):
        authenticate(COGNITO, bearer(rs256(rsa_key, cognito_claims(**{"cognito:groups": None}))))


def test_local_verifier_rejects_rs256_tokens(rsa_key: rsa.RSAPrivateKey) -> None:
    assert_unauthorized(LOCAL, bearer(rs256(rsa_key, claims(**{"cognito:groups": ["admin"]}))))
