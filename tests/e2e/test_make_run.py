"""End to end: `make run` serves the API on local AWS stand-ins, takes an order, and stops cleanly.

The stack runs on free ports (OC_API_PORT / OC_DDB_PORT / OC_AWS_PORT), so a
developer's own `make run` on 8000-8002 is not disturbed. The tests in this
module share one stack and run in file order; the last one stops it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from local.processes import free_port
from local.samples import order_body

pytestmark = pytest.mark.timeout(420)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CATALOG = json.loads((REPO_ROOT / "local" / "demo_catalog.json").read_text(encoding="utf-8"))
STARTUP_TIMEOUT = 120.0  # the first `make run` may still have to install things
STOP_TIMEOUT = 20.0
READY = "OrderCare local stack is up"


@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    ports: dict[str, int]
    log: Path
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.ports['OC_API_PORT']}"

    def log_tail(self, limit: int = 6000) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-limit:]


def _free_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _request(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - http://127.0.0.1
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def _start(ports: dict[str, int], log: Path) -> Stack:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ENDPOINT_URL")}
    env.update({name: str(port) for name, port in ports.items()})
    env["OC_LOCAL_DIR"] = str(log.parent / "runtime")
    with log.open("ab") as out:
        process = subprocess.Popen(
            ["make", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, like a terminal's foreground job
        )
    return Stack(process, ports, log, env)


def _wait_healthy(stack: Stack) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if stack.process.poll() is not None:
            pytest.fail(f"`make run` exited with {stack.process.returncode}:\n{stack.log_tail()}")
        try:
            healthy = _request("GET", f"{stack.url}/health")[0] == 200
        except OSError:
            healthy = False
        # The banner comes after the catalogue is seeded and streams and schedules run.
        if healthy and READY in stack.log_tail(50_000):
            return
        time.sleep(0.5)
    pytest.fail(f"no healthy, ready stack within {STARTUP_TIMEOUT:.0f} s:\n{stack.log_tail()}")


def _interrupt_and_wait(stack: Stack, sig: signal.Signals = signal.SIGINT) -> float:
    """Send `sig` to `make run`'s process group (like Ctrl-C); seconds until every port is closed."""
    started = time.monotonic()
    os.killpg(stack.process.pid, sig)
    try:
        stack.process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`make run` still running {STOP_TIMEOUT:.0f} s after {sig.name}:\n{stack.log_tail()}")
    while any(_listening(port) for port in stack.ports.values()):
        if time.monotonic() - started > STOP_TIMEOUT:
            still = {name: port for name, port in stack.ports.items() if _listening(port)}
            pytest.fail(f"ports still open after {sig.name}: {still}\n{stack.log_tail()}")
        time.sleep(0.2)
    return time.monotonic() - started


def _kill(stack: Stack) -> None:
    if stack.process.poll() is None:
        try:
            _interrupt_and_wait(stack)
        except BaseException:
            os.killpg(stack.process.pid, signal.SIGKILL)
            raise


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    names = ("OC_API_PORT", "OC_DDB_PORT", "OC_AWS_PORT")
    ports = dict(zip(names, _free_ports(3), strict=True))
    running = _start(ports, tmp_path_factory.mktemp("make-run") / "make-run.log")
    try:
        _wait_healthy(running)
        yield running
    finally:
        _kill(running)


def _token(stack: Stack, role: str, sub: str) -> str:
    result = subprocess.run(
        ["make", "-s", "token", f"ROLE={role}", f"SUB={sub}"],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    token = result.stdout.strip()
    assert token.count(".") == 2 and "\n" not in token, result.stdout
    return token


def test_health_answers_ok(stack: Stack) -> None:
    assert _request("GET", f"{stack.url}/health") == (200, {"status": "ok"})


def test_an_order_placed_over_http_can_be_read_by_its_customer(stack: Stack) -> None:
    mug = next(item for item in DEMO_CATALOG if item["sku"] == "MUG-1")
    body = order_body(lines=[{"sku": "MUG-1", "quantity": 2, "unit_price": mug["unit_price"]}])
    storefront = {
        "Authorization": f"Bearer {_token(stack, 'storefront', 'web')}",
        "Idempotency-Key": str(uuid.uuid4()),
    }
    status, order = _request("POST", f"{stack.url}/v1/orders", body, storefront)
    assert status == 201, (order, stack.log_tail())
    assert order["status"] == "placed"
    assert order["id"].startswith("ord_")
    assert order["customer_id"] == "cus_alice"
    assert order["ship_by"].endswith("Z") and order["deliver_by"].endswith("Z")
    assert order["ship_by"] < order["deliver_by"]
    assert order["holds"] == []  # the seeded catalogue knows MUG-1 at this price, with stock
    assert order["total"] == (order["subtotal"] - order["discount_total"] + order["shipping_fee"] + order["tax_total"])

    customer = {"Authorization": f"Bearer {_token(stack, 'customer', 'cus_alice')}"}
    status, read = _request("GET", f"{stack.url}/v1/orders/{order['id']}", headers=customer)
    assert status == 200, read
    assert read["id"] == order["id"] and read["status"] == "placed"


def _documents_until(stack: Stack, order_id: str, headers: dict[str, str], kinds: set[str]) -> list[Any]:
    """The order's documents once every kind in `kinds` is stored (the stream issues them shortly after)."""
    deadline = time.monotonic() + 60
    items: list[Any] = []
    while time.monotonic() < deadline:
        status, body = _request("GET", f"{stack.url}/v1/orders/{order_id}/documents", headers=headers)
        assert status == 200, body
        items = body["items"]
        if kinds <= {item["kind"] for item in items if item["download_url"]}:
            return items
        time.sleep(0.5)
    pytest.fail(f"documents {sorted(kinds)} not issued within 60 s: {items}\n{stack.log_tail()}")


def _check_factur_x(url: str, workdir: Path) -> None:
    """Download the PDF, extract the XML with factur-x's own reader, check it by the official rules."""
    with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - the local S3 stand-in
        pdf = response.read()
    path, xml = workdir / "document.pdf", workdir / "factur-x.xml"
    path.write_bytes(pdf)
    bin_dir = Path(sys.executable).parent
    subprocess.run([str(bin_dir / "facturx-pdfextractxml"), str(path), str(xml)], check=True, capture_output=True)
    checked = subprocess.run(
        [sys.executable, "-m", "chalicelib.documents.validation", str(path), str(xml)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.count("passes EN 16931") == 2, checked.stdout


def test_a_business_buyer_gets_factur_x_invoice_and_credit_note(stack: Stack, tmp_path: Path) -> None:
    mug = next(item for item in DEMO_CATALOG if item["sku"] == "MUG-1")
    body = {
        "customer": {
            "id": "cus_bob",
            "email": "einkauf@mueller.example",
            "name": "Bob Müller",
            "locale": "de-DE",
            "company": "Müller & Söhne GmbH",
            "vat_id": "DE136695976",
        },
        "billing_address": {
            "name": "Müller & Söhne GmbH",
            "line1": "Hauptstraße 12",
            "city": "München",
            "postal_code": "80331",
            "country": "DE",
        },
        "buyer_reference": "04011000-12345-34",
        "currency": "EUR",
        "lines": [{"sku": "MUG-1", "quantity": 3, "unit_price": mug["unit_price"]}],
        "shipping_address": {
            "name": "Bob Müller",
            "line1": "Hauptstr. 1",
            "city": "Berlin",
            "postal_code": "10115",
            "country": "DE",
        },
        "shipping_method": "standard",
        "shipping_fee": 499,
        "discounts": [{"code": "B2B", "amount": 300}],
    }
    storefront = {"Authorization": f"Bearer {_token(stack, 'storefront', 'web')}"}
    status, order = _request(
        "POST", f"{stack.url}/v1/orders", body, {**storefront, "Idempotency-Key": str(uuid.uuid4())}
    )
    assert status == 201, (order, stack.log_tail())
    payment = {"amount": order["total"], "method": "card", "provider_ref": "pi_b2b"}
    status, paid = _request(
        "POST",
        f"{stack.url}/v1/orders/{order['id']}/payments",
        payment,
        {**storefront, "Idempotency-Key": str(uuid.uuid4())},
    )
    assert status == 201, paid
    customer = {"Authorization": f"Bearer {_token(stack, 'customer', 'cus_bob')}"}
    items = _documents_until(stack, order["id"], customer, {"invoice"})
    invoice = next(item for item in items if item["kind"] == "invoice")
    assert invoice["e_invoice"] == "factur-x/en16931" and invoice["xml_url"]
    _check_factur_x(invoice["download_url"], tmp_path)

    refund = json.dumps(
        {
            "event_id": f"ref-{uuid.uuid4()}",
            "order_id": order["id"],
            "amount": 1000,
            "provider_ref": "re_b2b",
            "status": "refunded",
        }
    )
    subprocess.run(
        ["make", "-s", "sign-webhook", "KIND=payment", "SEND=1", f"BODY={refund}"],
        cwd=REPO_ROOT,
        env={**stack.env, "OC_PUBLIC_BASE_URL": stack.url},
        capture_output=True,
        timeout=60,
        check=True,
    )
    items = _documents_until(stack, order["id"], customer, {"invoice", "credit_note"})
    note = next(item for item in items if item["kind"] == "credit_note")
    assert note["total"] == -1000 and note["e_invoice"] == "factur-x/en16931"
    _check_factur_x(note["download_url"], tmp_path)


def test_a_busy_port_is_named_and_the_second_stack_exits_non_zero(stack: Stack) -> None:
    ports = {**stack.ports, "OC_DDB_PORT": free_port(), "OC_AWS_PORT": free_port()}
    env = {**stack.env, **{name: str(port) for name, port in ports.items()}}
    result = subprocess.run(
        [sys.executable, "-m", "local.stack"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert f"port {ports['OC_API_PORT']} (OC_API_PORT" in result.stderr
    assert "already in use" in result.stderr
    assert _request("GET", f"{stack.url}/health")[0] == 200  # the running stack is untouched


def test_ctrl_c_stops_every_child_and_a_second_run_works(stack: Stack) -> None:
    seconds = _interrupt_and_wait(stack, signal.SIGINT)
    assert seconds < STOP_TIMEOUT
    assert "local stack stopped" in stack.log_tail()

    again = _start(stack.ports, stack.log.with_name("make-run-2.log"))
    try:
        _wait_healthy(again)
        assert _request("GET", f"{again.url}/health") == (200, {"status": "ok"})
        _interrupt_and_wait(again, signal.SIGTERM)
        assert "local stack stopped" in again.log_tail()
    finally:
        _kill(again)
