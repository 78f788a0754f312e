"""POSTs outbound webhooks with the SSRF guard applied to the address actually connected to.

The host is resolved here and every address it resolves to is checked *before* a
socket is opened to it (so DNS answering a private address, or rebinding between a
check and the connect, cannot reach inside the VPC); redirects are not followed.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

from chalicelib.domain.outbound import receiver_address_allowed
from chalicelib.services.webhooks import SendResult


class BlockedAddressError(OSError):
    """The receiver's host resolves to an address OrderCare must not call."""


def _guarded_connect(host: str, allow_loopback: bool) -> Any:
    def create_connection(address: tuple[str, int], timeout: Any = None, source_address: Any = None) -> socket.socket:
        name, port = address
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
        if not infos:
            raise BlockedAddressError(f"{host} does not resolve")
        for *_, sockaddr in infos:
            if not receiver_address_allowed(str(sockaddr[0]), host, allow_loopback=allow_loopback):
                raise BlockedAddressError(f"{host} resolves to a non-public address ({sockaddr[0]})")
        family, kind, proto, _, sockaddr = infos[0]
        sock = socket.socket(family, kind, proto)
        try:
            if timeout is not None:
                sock.settimeout(timeout)
            sock.connect(sockaddr)  # the address that was checked, not a second lookup
        except BaseException:
            sock.close()
            raise
        return sock

    return create_connection


class GuardedHttpSender:
    def __init__(self, *, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback

    def send(self, url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> SendResult:
        parts = urlsplit(url)
        host = parts.hostname or ""
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        connection: http.client.HTTPConnection
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                host, parts.port, timeout=timeout, context=ssl.create_default_context()
            )
        elif parts.scheme == "http" and self.allow_loopback:
            connection = http.client.HTTPConnection(host, parts.port, timeout=timeout)
        else:
            return SendResult(None, "scheme not allowed")
        connection._create_connection = _guarded_connect(host, self.allow_loopback)  # type: ignore[attr-defined]
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            response.read(64 * 1024)  # drain a little; the body is not used
            return SendResult(response.status, None if 200 <= response.status < 300 else f"HTTP {response.status}")
        except BlockedAddressError as exc:
            return SendResult(None, str(exc))
        except TimeoutError:
            return SendResult(None, f"timed out after {timeout:g} s")
        except (OSError, http.client.HTTPException) as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}"[:200])
        finally:
            connection.close()
