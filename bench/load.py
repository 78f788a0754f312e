"""`make load`: mixed traffic against the local stack on loopback; errors and latency per route.

Starts `python -m local.stack` (what `make run` runs) on free ports, then USERS virtual
users (asyncio + httpx, OC_LOAD_USERS, default 8) each walk an order's life for
SECONDS (OC_LOAD_SECONDS, default 60): delivery estimate, placement, the customer's
reads, payment, the agent's lookup and shipment, carrier webhooks, the tracking page,
the portal's sign-in page, documents and timeline. Every answer must be the status the
contract names; anything else (or a transport error) is an error. Prints one
`name: value` line per figure and exits non-zero on any error.

Only ever 127.0.0.1 (the stack binds there); `make load` is not part of `make test`
(tests/e2e/test_load_smoke.py runs a 10 s version against its own stack).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
READY = "OrderCare local stack is up"
CARRIER_SECRET = "local-carrier-webhook-secret"  # noqa: S105 - the local stack's documented default


@dataclass
class Tally:
    """Latencies (ms) per route and every unexpected answer."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)

    def lines(self, seconds: float) -> list[str]:
        total = sum(len(values) for values in self.latencies.values())
        out = [
            f"load_seconds: {seconds:.1f}",
            f"load_requests: {total}",
            f"load_requests_per_s: {total / seconds:.1f}",
            f"load_errors: {len(self.errors)}",
        ]
        for route, values in sorted(self.latencies.items()):
            out.append(
                f"load_ms[{route}]: n={len(values)} p50={percentile(values, 0.5):.0f} "
                f"p95={percentile(values, 0.95):.0f} max={max(values):.0f}"
            )
        every = [v for values in self.latencies.values() for v in values]
        if every:
            out.append(f"load_ms[all]: p50={percentile(every, 0.5):.0f} p95={percentile(every, 0.95):.0f}")
        out += [f"load_error: {error}" for error in self.errors[:20]]
        return out


def percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


class Traffic:
    """One virtual user's requests, timed per route."""

    def __init__(self, client: Any, tally: Tally, tokens: dict[str, str]):
        self.client = client
        self.tally = tally
        self.tokens = tokens

    async def call(
        self,
        route: str,
        method: str,
        path: str,
        *,
        expect: int,
        role: str | None = None,
        body: Any = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        all_headers = dict(headers or {})
        if role:
            all_headers["Authorization"] = f"Bearer {self.tokens[role]}"
        if body is not None:
            raw = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        try:
            response = await self.client.request(method, path, content=raw, headers=all_headers)
        except Exception as error:  # a transport error is an error like any other
            self.tally.errors.append(f"{route}: {type(error).__name__}: {error}")
            return None
        self.tally.latencies[route].append((time.perf_counter() - started) * 1000)
        if response.status_code != expect:
            self.tally.errors.append(f"{route}: {response.status_code} (expected {expect}) {response.text[:200]}")
            return None
        is_json = response.headers.get("content-type", "").startswith("application/json")
        return response.json() if is_json and response.content else response.text

    async def order_life(self, n: int) -> None:
        from chalicelib.domain.webhooks import signature_header
        from local.samples import order_body

        estimate = {"shipping_method": "standard", "country": "DE"}
        await self.call("POST /v1/delivery-estimates", "POST", "/v1/delivery-estimates", expect=200,
                        role="storefront", body=estimate)  # fmt: skip
        body = order_body(lines=[{"sku": "MUG-1", "quantity": 2, "unit_price": 1299}])
        order = await self.call("POST /v1/orders", "POST", "/v1/orders", expect=201, role="storefront", body=body,
                                headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
        if not isinstance(order, dict):
            return
        oid = order["id"]
        await self.call("GET /v1/orders/{id}", "GET", f"/v1/orders/{oid}", expect=200, role="customer")
        payment = {"amount": order["total"], "method": "card", "provider_ref": f"pi_load_{n}"}
        await self.call("POST /v1/orders/{id}/payments", "POST", f"/v1/orders/{oid}/payments", expect=201,
                        role="storefront", body=payment, headers={"Idempotency-Key": str(uuid.uuid4())})  # fmt: skip
        await self.call("GET /v1/orders?number=", "GET", f"/v1/orders?number={order['number']}", expect=200,
                        role="agent")  # fmt: skip
        tracking = f"LOAD{uuid.uuid4().hex[:16].upper()}"
        await self.call("POST /v1/orders/{id}/shipments", "POST", f"/v1/orders/{oid}/shipments", expect=201,
                        role="agent", body={"carrier": "dhl", "tracking_number": tracking})  # fmt: skip
        for status in ("out_for_delivery", "delivered"):
            at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            payload = {"event_id": str(uuid.uuid4()), "tracking_number": tracking, "status": status, "occurred_at": at}
            raw = json.dumps(payload).encode()
            signed = {"X-OrderCare-Signature": signature_header(CARRIER_SECRET, raw, int(time.time())),
                      "Content-Type": "application/json"}  # fmt: skip
            await self.call("POST /v1/webhooks/carrier", "POST", "/v1/webhooks/carrier", expect=200, raw=raw,
                            headers=signed)  # fmt: skip
        page = order.get("tracking_url") or ""
        path = "/" + page.split("://", 1)[-1].split("/", 1)[-1] if page else ""
        if path:
            await self.call("GET tracking page", "GET", path, expect=200, headers={"Accept": "text/html"})
        await self.call("GET /account", "GET", "/account", expect=200, headers={"Accept": "text/html"})
        await self.call("GET /v1/orders/{id}/timeline", "GET", f"/v1/orders/{oid}/timeline", expect=200,
                        role="customer")  # fmt: skip
        await self.call("GET /v1/orders/{id}/documents", "GET", f"/v1/orders/{oid}/documents", expect=200,
                        role="customer")  # fmt: skip
        await self.call("GET /v1/orders (customer)", "GET", "/v1/orders?limit=10", expect=200, role="customer")
        await self.call("GET /health", "GET", "/health", expect=200)


async def drive(base_url: str, seconds: float, users: int) -> tuple[Tally, float]:
    import httpx

    from chalicelib.api.auth import mint_local_token
    from chalicelib.settings import Settings

    settings = Settings()  # the local stack's defaults (its signing key)
    tokens = {
        "storefront": mint_local_token(settings, "storefront", "web"),
        "agent": mint_local_token(settings, "agent", "agt_load"),
        "customer": mint_local_token(settings, "customer", "cus_alice"),
        "admin": mint_local_token(settings, "admin", "adm_load"),
    }
    tally = Tally()
    limits = httpx.Limits(max_connections=users, max_keepalive_connections=users)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        setup = Traffic(client, Tally(), tokens)
        mug = {"name": "Ceramic mug", "unit_price": 1299, "currency": "EUR", "stock": 10**7, "tax_rate_bps": 1900}
        await setup.call("setup", "PUT", "/v1/catalog/MUG-1", expect=200, role="admin", body=mug)
        if setup.tally.errors:
            raise SystemExit(f"could not stock the catalogue: {setup.tally.errors}")
        started = time.perf_counter()
        deadline = started + seconds
        counter = iter(range(10**9))

        async def user() -> None:
            traffic = Traffic(client, tally, tokens)
            while time.perf_counter() < deadline:
                await traffic.order_life(next(counter))

        await asyncio.gather(*(user() for _ in range(users)))
        return tally, time.perf_counter() - started


def start_stack(workdir: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    """The local stack (`make run`'s `python -m local.stack`) on free ports; its process, URL and log."""
    from local.processes import free_port

    ports: list[int] = []
    while len(ports) < 3:
        port = free_port()
        if port not in ports:
            ports.append(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL") and not k.startswith("OC_")}
    env.update(OC_API_PORT=str(ports[0]), OC_DDB_PORT=str(ports[1]), OC_AWS_PORT=str(ports[2]))
    env["OC_LOCAL_DIR"] = str(workdir / "runtime")
    log = workdir / "stack.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "local.stack"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 180
    while READY not in log.read_text(encoding="utf-8", errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            stop_stack(process)
            raise SystemExit(f"the local stack did not come up:\n{log.read_text(errors='replace')[-4000:]}")
        time.sleep(0.5)
    return process, f"http://127.0.0.1:{ports[0]}", log


def stop_stack(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)  # like Ctrl-C on `make run`
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def run(seconds: float | None = None, users: int | None = None, base_url: str | None = None) -> list[str]:
    """The figures; against `base_url` if given, else a stack of our own."""
    seconds = seconds if seconds is not None else float(os.environ.get("OC_LOAD_SECONDS", "60"))
    users = users if users is not None else int(os.environ.get("OC_LOAD_USERS", "8"))
    if base_url is not None:
        tally, elapsed = asyncio.run(drive(base_url, seconds, users))
        return [f"load_users: {users}", *tally.lines(elapsed)]
    with tempfile.TemporaryDirectory(prefix="ordercare-load-") as workdir:
        process, url, _ = start_stack(Path(workdir))
        try:
            tally, elapsed = asyncio.run(drive(url, seconds, users))
        finally:
            stop_stack(process)
    return [f"load_users: {users}", *tally.lines(elapsed)]


def main() -> int:
    lines = run()
    for line in lines:
        print(line, flush=True)
    return 1 if any(line.startswith("load_errors:") and not line.endswith(" 0") for line in lines) else 0


if __name__ == "__main__":
    raise SystemExit(main())
