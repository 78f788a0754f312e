"""Outage drills on the local stack: make a share of the AWS calls fail the way AWS fails them.

Local stack only (`install` is called by the composition root when OC_ENVIRONMENT is
local; the /local/faults routes refuse elsewhere). Active faults live in one small
JSON file (`OC_LOCAL_FAULTS`, default `.local/faults.json`), so every process of the
stack — the API, the stream replayer, the scheduler, `make sweep` — sees the same
switch. The hook is botocore's own `before-call` event, added to the handlers every
botocore session registers (as moto does), so no adapter knows about it: a matching
call is answered with the error response AWS would send — botocore raises its
modelled exception (ThrottlingException, SlowDown, a 5xx) — or with a read timeout.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

SERVICES = ("s3", "ses", "sesv2", "sns", "dynamodb")
ERRORS = ("throttle", "server", "timeout")

# What each service answers when it throttles / has a server error: (code, HTTP status).
THROTTLE = {
    "s3": ("SlowDown", 503),
    "dynamodb": ("ThrottlingException", 400),
    "ses": ("Throttling", 400),
    "sesv2": ("TooManyRequestsException", 429),
    "sns": ("Throttling", 400),
}
SERVER = {
    "s3": ("InternalError", 500),
    "dynamodb": ("InternalServerError", 500),
    "ses": ("ServiceUnavailable", 503),
    "sesv2": ("InternalServiceErrorException", 500),
    "sns": ("InternalError", 500),
}


@dataclass(frozen=True)
class Fault:
    service: str
    ratio: float
    error: str
    operations: tuple[str, ...] = ()  # empty: every operation of the service
    id: str = field(default_factory=lambda: f"flt_{secrets.token_hex(4)}")

    def matches(self, service: str, operation: str) -> bool:
        # "ses" is the email service as a whole (the app sends through SES v2).
        same = service == self.service or (self.service == "ses" and service == "sesv2")
        return same and (not self.operations or operation in self.operations)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "operations": list(self.operations)}

    @property
    def description(self) -> str:
        calls = ", ".join(self.operations) if self.operations else "every call"
        return f"{self.service}: {calls} — {self.ratio:.0%} fail ({self.error})"


_REPO_LOCAL = Path(__file__).resolve().parents[2] / ".local"  # resolved once: this runs before every AWS call
# How long a look at the fault file stands: a drill switched on by another process (`make fault`)
# reaches this one within it, and a burst does not pay a stat() per SDK call (2.4 % of its profile).
RECHECK_SECONDS = 0.5
_writes = 0  # bumped by every write in this process, so its own stores see a change at once


def faults_path() -> Path:
    configured = os.environ.get("OC_LOCAL_FAULTS", "").strip()
    if configured:
        return Path(configured)
    local = os.environ.get("OC_LOCAL_DIR", "").strip()
    return (Path(local) if local else _REPO_LOCAL) / "faults.json"


class FaultStore:
    """The active faults, in a file every local process reads (re-read when it changes)."""

    def __init__(self, path: Path | None = None):
        self._path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._faults: list[Fault] = []
        self._looked: tuple[Path, int, float] | None = None  # (path, writes, monotonic time) of the last look

    @property
    def path(self) -> Path:
        return self._path or faults_path()  # read each time: tests point OC_LOCAL_FAULTS elsewhere

    def active(self) -> list[Fault]:
        path = self.path
        now = time.monotonic()
        with self._lock:
            looked = self._looked
            if looked is not None and looked[:2] == (path, _writes) and now - looked[2] < RECHECK_SECONDS:
                return list(self._faults)
            self._looked = (path, _writes, now)
            try:
                stat = path.stat()
            except FileNotFoundError:
                self._faults, self._seen = [], None
                return []
            stamp = (hash(str(path)), stat.st_mtime_ns, stat.st_size)
            if stamp != self._seen:
                try:
                    raw = json.loads(path.read_text(encoding="utf-8") or "[]")
                except (OSError, ValueError):
                    raw = []
                self._faults = [Fault(**{**item, "operations": tuple(item.get("operations", ()))}) for item in raw]
                self._seen = stamp
            return list(self._faults)

    def _write(self, faults: list[Fault]) -> None:
        global _writes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps([fault.as_json() for fault in faults]), encoding="utf-8")
        temporary.replace(self.path)  # atomic: a reader sees the old list or the new one
        _writes += 1

    def add(self, fault: Fault) -> Fault:
        self._write([*self.active(), fault])
        return fault

    def remove(self, fault_id: str) -> bool:
        faults = self.active()
        kept = [fault for fault in faults if fault.id != fault_id]
        self._write(kept)
        return len(kept) != len(faults)

    def clear(self) -> int:
        count = len(self.active())
        self._write([])
        return count


def injected(fault: Fault, service: str, operation: str) -> tuple[Any, dict[str, Any]]:
    """What botocore receives instead of AWS's answer: (http response, parsed error body)."""
    from botocore.exceptions import ReadTimeoutError

    if fault.error == "timeout":
        raise ReadTimeoutError(endpoint_url=f"https://{service}.local-fault-injection/{operation}")
    code, status = (THROTTLE if fault.error == "throttle" else SERVER)[service]
    parsed = {
        "Error": {"Code": code, "Message": f"injected by local fault {fault.id}"},
        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0},
    }
    return _Http(status), parsed


@dataclass(frozen=True)
class _Http:
    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes = b""


class FaultInjector:
    """The botocore `before-call` handler: answers a matching call with its fault."""

    def __init__(self, store: FaultStore, rng: random.Random | None = None):
        self.store = store
        self.rng = rng or random.Random()  # noqa: S311 - chaos, not cryptography # nosec B311

    def __call__(self, event_name: str = "", **kwargs: Any) -> tuple[Any, dict[str, Any]] | None:
        _, _, rest = event_name.partition(".")  # before-call.<service>.<operation>
        service, _, operation = rest.partition(".")
        for fault in self.store.active():
            if fault.matches(service, operation) and self.rng.random() < fault.ratio:
                return injected(fault, service, operation)
        return None


_installed: FaultInjector | None = None


def install(store: FaultStore | None = None) -> FaultInjector:
    """Hook every botocore session made from now on (and boto3's default one) — once per process."""
    global _installed
    if _installed is not None:
        return _installed
    import boto3
    from botocore import handlers

    injector = FaultInjector(store or FaultStore())
    handlers.BUILTIN_HANDLERS.append(("before-call", injector))
    if boto3.DEFAULT_SESSION is not None:  # created before us: its future clients get the hook too
        boto3.DEFAULT_SESSION.events.register("before-call", injector)
    _installed = injector
    return injector
