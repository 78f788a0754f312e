"""The README's outage drill over HTTP on `make run`: SES off while five orders are placed, paid and
shipped; then on; after the retry sweep every email exists exactly once and no order is stuck.
The same with S3 off during payment: invoice, receipt and payment email once each, no gap in numbers."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from local.samples import order_body
from tests.e2e.test_make_run import REPO_ROOT, Stack, _free_ports, _kill, _request, _start, _token, _wait_healthy

pytestmark = pytest.mark.timeout(420)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    names = ("OC_API_PORT", "OC_DDB_PORT", "OC_AWS_PORT")
    running = _start(dict(zip(names, _free_ports(3), strict=True)), tmp_path_factory.mktemp("drill") / "run.log")
    try:
        _wait_healthy(running)
        yield running
    finally:
        _kill(running)


def _sweep(stack: Stack, at: datetime) -> str:
    result = subprocess.run(
        ["make", "-s", "sweep", f"AT={at.strftime('%Y-%m-%dT%H:%M:%SZ')}"],
        cwd=REPO_ROOT,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def _emails(stack: Stack) -> list[dict[str, Any]]:
    status, outbox = _request("GET", f"{stack.url}/local/outbox")
    assert status == 200
    return list(outbox["emails"])


def _subjects_for(stack: Stack, numbers: list[str]) -> Counter[str]:
    return Counter(e["subject"] for e in _emails(stack) if any(number in e["subject"] for number in numbers))


def _place_pay_ship(stack: Stack, storefront: dict[str, str], agent: dict[str, str]) -> dict[str, Any]:
    key = {"Idempotency-Key": str(uuid.uuid4())}
    status, order = _request("POST", f"{stack.url}/v1/orders", order_body(), {**storefront, **key})
    assert status == 201, order
    payment = {"amount": order["total"], "method": "card", "provider_ref": f"pi_{uuid.uuid4().hex[:10]}"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    status, paid = _request("POST", f"{stack.url}/v1/orders/{order['id']}/payments", payment, {**storefront, **key})
    assert status == 201, paid
    shipment = {"carrier": "dhl", "tracking_number": f"JJD{uuid.uuid4().int % 10**12:012d}"}
    status, shipped = _request("POST", f"{stack.url}/v1/orders/{order['id']}/shipments", shipment, agent)
    assert status == 201, shipped
    return dict(order)


def _fault(stack: Stack, service: str) -> None:
    status, fault = _request("POST", f"{stack.url}/local/faults", {"service": service, "ratio": 1, "error": "server"})
    assert status == 201, fault


def _recover(stack: Stack, check: Any, what: str) -> None:
    """Sweep (as the schedule would, each time later) until `check()` holds."""
    at = datetime.now(UTC)
    for _ in range(6):
        at += timedelta(hours=1, minutes=5)  # past the longest backoff
        _sweep(stack, at)
        time.sleep(1.5)  # the stream replayer delivers what the sweep's writes caused
        if check():
            return
    pytest.fail(f"{what} not recovered\n{stack.log_tail()}")


def test_ses_off_then_on_every_email_exactly_once(stack: Stack) -> None:
    storefront = {"Authorization": f"Bearer {_token(stack, 'storefront', 'web')}"}
    agent = {"Authorization": f"Bearer {_token(stack, 'agent', 'agt_1')}"}
    _fault(stack, "ses")
    orders = [_place_pay_ship(stack, storefront, agent) for _ in range(5)]
    numbers = [order["number"] for order in orders]
    time.sleep(8)  # the stream's own attempts fail meanwhile
    assert _subjects_for(stack, numbers) == Counter()  # nothing got through
    assert _request("DELETE", f"{stack.url}/local/faults")[0] == 200

    def complete() -> bool:
        return sum(_subjects_for(stack, numbers).values()) >= 15  # confirmation, payment, shipped × 5

    _recover(stack, complete, "the emails")
    sent = _subjects_for(stack, numbers)
    assert len(sent) == 15 and set(sent.values()) == {1}, sent  # each exactly once
    _sweep(stack, datetime.now(UTC) + timedelta(hours=12))
    time.sleep(1.5)
    assert _subjects_for(stack, numbers) == sent  # later sweeps add nothing


def test_s3_off_during_payment_documents_follow_once_with_no_gap(stack: Stack) -> None:
    storefront = {"Authorization": f"Bearer {_token(stack, 'storefront', 'web')}"}
    agent = {"Authorization": f"Bearer {_token(stack, 'agent', 'agt_1')}"}
    _fault(stack, "s3")
    orders = [_place_pay_ship(stack, storefront, agent) for _ in range(3)]
    time.sleep(6)
    assert _request("DELETE", f"{stack.url}/local/faults")[0] == 200
    customer_docs: dict[str, list[dict[str, Any]]] = {}

    def documents_complete() -> bool:
        for order in orders:
            token = _token(stack, "customer", order["customer_id"])
            status, listing = _request(
                "GET", f"{stack.url}/v1/orders/{order['id']}/documents", headers={"Authorization": f"Bearer {token}"}
            )
            assert status == 200, listing
            customer_docs[order["id"]] = listing["items"]
        return all({d["kind"] for d in docs} >= {"invoice", "receipt"} for docs in customer_docs.values())

    _recover(stack, documents_complete, "the documents")
    invoices = sorted(d["number"] for docs in customer_docs.values() for d in docs if d["kind"] == "invoice")
    assert len(invoices) == 3 and len(set(invoices)) == 3
    sequence = sorted(int(number.rsplit("-", 1)[-1]) for number in invoices)
    assert sequence == list(range(sequence[0], sequence[0] + 3))  # no gap
    numbers = [order["number"] for order in orders]
    payment_emails = [s for s, n in _subjects_for(stack, numbers).items() if "Zahlung" in s or "Payment" in s]
    assert len(payment_emails) == 3
