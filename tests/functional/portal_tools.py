"""A cookie-keeping browser over chalice.test.Client for the portal's functional tests."""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_string, policy
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from tests.functional.conftest import Api

FORM = "application/x-www-form-urlencoded"


class Clock:
    """The portal clock in a test: starts at the wall clock (orders are placed with it) and moves on request."""

    def __init__(self) -> None:
        self.moment = datetime.now(UTC)

    def now(self) -> datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += timedelta(**delta)


@dataclass
class Visit:
    status: int
    headers: dict[str, Any]
    html: str

    @property
    def location(self) -> str | None:
        value = self.headers.get("Location")
        return str(value) if value else None

    def field(self, name: str) -> str:
        match = re.search(rf'name="{name}" value="([^"]*)"', self.html)
        assert match, f"no field {name} in page"
        return match.group(1)

    @property
    def csrf(self) -> str:
        return self.field("csrf_token")

    def cookies(self) -> list[str]:
        value = self.headers.get("Set-Cookie") or []
        return value if isinstance(value, list) else [value]


@dataclass
class Browser:
    api: Api
    jar: dict[str, str] = field(default_factory=dict)
    ip: str = "198.51.100.7"
    accept_language: str = "en-GB,en;q=0.8"

    def _headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        headers = {"Accept-Language": self.accept_language}
        if self.jar:
            headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.jar.items())
        return {**headers, **(extra or {})}

    def _keep(self, response: Any) -> Visit:
        headers = dict(response.headers)
        visit = Visit(response.status_code, headers, response.body.decode() if response.body else "")
        for cookie in visit.cookies():
            pair = cookie.split(";", 1)[0]
            name, _, value = pair.partition("=")
            if "Max-Age=0" in cookie or not value:
                self.jar.pop(name, None)
            else:
                self.jar[name] = value
        return visit

    def get(self, path: str) -> Visit:
        return self._keep(self.api.client.http.get(path, headers=self._headers()))

    def post(self, path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> Visit:
        body = urllib.parse.urlencode(form).encode()
        response = self.api.client.http.post(
            path, headers=self._headers({"Content-Type": FORM, **(headers or {})}), body=body
        )
        return self._keep(response)

    def request_code(self, email: str) -> Visit:
        page = self.get("/account")
        return self.post("/account/sign-in", {"email": email, "csrf_token": page.csrf})

    def sign_in(self, email: str) -> Visit:
        """The whole sign-in: form, email, code → the 303 to the orders."""
        sent = self.request_code(email)
        assert sent.status == 200, sent.html
        code = last_code(email)
        done = self.post("/account/verify", {"email": email, "code": code, "csrf_token": sent.csrf})
        assert done.status == 303, done.html
        return done


def sign_in_mails(to: str | None = None) -> list[Any]:
    backend = ses_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"]
    messages = [
        message_from_string(m.raw_data, policy=policy.default) for m in backend.sent_messages if hasattr(m, "raw_data")
    ]
    return [
        m
        for m in messages
        if "sign-in code" in str(m["Subject"]) or "Anmeldecode" in str(m["Subject"])
        if to is None or str(m["To"]).strip().lower() == to.strip().lower()
    ]


def mail_text(message: Any) -> str:
    return str(message.get_body(preferencelist=("plain",)).get_content())


def last_code(email: str) -> str:
    mails = sign_in_mails(email)
    assert mails, f"no sign-in email to {email}"
    match = re.search(r"\b(\d{6})\b", mail_text(mails[-1]))
    assert match
    return match.group(1)


def last_link_token(email: str) -> str:
    match = re.search(r"/account/verify\?token=([A-Za-z0-9_-]+)", mail_text(sign_in_mails(email)[-1]))
    assert match
    return match.group(1)
