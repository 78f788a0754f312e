"""Nothing lost when AWS has a bad hour: outages injected with the local fault switch (moto).

Each test fails on the code before durable intents: there the stream's retries counted
as attempts (SES outage → emails given up), the SMS hid behind the email, an S3 outage
burnt an invoice number for good, and one poison item stopped the retry sweep.
"""

from __future__ import annotations

import random
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from chalicelib.adapters.faults import Fault, FaultInjector, FaultStore
from chalicelib.bootstrap import get_container
from tests.functional.conftest import Api
from tests.functional.stream_tools import StreamTap, deliver, drain, retry_sweep, sweep_until_quiet
from tests.functional.test_lifecycle_api import pay, place, staff
from tests.functional.test_notifications import emails, sms_sent, subjects, timeline


@pytest.fixture
def tap(api: Api) -> Iterator[StreamTap]:
    stream = StreamTap("ordercare-test")
    stream.new_records()
    yield stream


def fault(api: Api, **body: Any) -> dict[str, Any]:
    response = api.call("POST", "/local/faults", body)
    assert response.status_code == 201, response.data
    return response.data  # type: ignore[no-any-return]


def redeliver_like_lambda(tap: StreamTap, rounds: int = 6) -> None:
    """The stream's own retries (5) and more: every record delivered again and again."""
    drain(tap)
    for _ in range(rounds):
        assert deliver(tap.all[-40:]) == {"batchItemFailures": []}


def sms_on(api: Api) -> None:
    prefs = {"email": True, "sms": True, "locale": "de-DE"}
    response = api.call("PUT", "/v1/customers/cus_alice/preferences", prefs, role="customer", sub="cus_alice")
    assert response.status_code == 200


def ship(api: Api, order: dict[str, Any]) -> None:
    assert pay(api, order).status_code == 201
    staff(api, f"/v1/orders/{order['id']}/processing")
    tracking = f"TRK{uuid.uuid4().hex[:8]}"
    shipped = staff(api, f"/v1/orders/{order['id']}/shipments", {"carrier": "dhl", "tracking_number": tracking})
    assert shipped.status_code == 201, shipped.data


# --- the switch itself ---------------------------------------------------------------------


def test_switch_ratio_zero_one_and_a_fifth(api: Api, tmp_path: Any) -> None:
    store = FaultStore(tmp_path / "drill.json")
    injector = FaultInjector(store, random.Random(22))
    s3 = boto3.client("s3")
    s3.meta.events.register("before-call", injector)

    def failures(ratio: float, calls: int) -> int:
        store.clear()
        store.add(Fault("s3", ratio, "server", ("ListBuckets",)))
        failed = 0
        for _ in range(calls):
            try:
                s3.list_buckets()
            except ClientError:
                failed += 1
        return failed

    assert failures(0.0, 200) == 0
    assert failures(1.0, 200) == 200
    assert 150 <= failures(0.2, 1000) <= 250
    store.clear()
    s3.head_bucket(Bucket="ordercare-local-documents")  # other operations were never touched


@pytest.mark.parametrize(
    ("service", "error", "code"),
    [
        ("sesv2", "throttle", "TooManyRequestsException"),
        ("s3", "throttle", "SlowDown"),
        ("dynamodb", "throttle", "ThrottlingException"),
        ("sns", "server", "InternalError"),
        ("ses", "server", "ServiceUnavailable"),
    ],
)
def test_each_error_raises_what_botocore_raises(api: Api, service: str, error: str, code: str) -> None:
    fault(api, service=service, error=error, ratio=1)
    client = boto3.client(service)
    call = {
        "sesv2": lambda: client.list_email_identities(),
        "s3": lambda: client.list_buckets(),
        "dynamodb": lambda: client.list_tables(),
        "sns": lambda: client.list_topics(),
        "ses": lambda: client.list_identities(),
    }[service]
    with pytest.raises(ClientError) as raised:
        call()
    assert raised.value.response["Error"]["Code"] == code
    if service == "sesv2":
        assert isinstance(raised.value, client.exceptions.TooManyRequestsException)  # the modelled class


def test_timeout_raises_a_read_timeout(api: Api) -> None:
    fault(api, service="sns", error="timeout", ratio=1, operations=["ListTopics"])
    with pytest.raises(ReadTimeoutError):
        boto3.client("sns").list_topics()


def test_faults_are_listed_and_ended(api: Api) -> None:
    first = fault(api, service="ses", ratio=1, operations=["SendRawEmail"])
    fault(api, service="s3", ratio=0.5, error="throttle")
    listed = api.call("GET", "/local/faults").data["items"]
    assert listed[0]["id"] == first["id"] and len(listed) == 2
    assert "SendRawEmail" in first["description"]
    assert api.call("DELETE", f"/local/faults/{first['id']}").data == {"cleared": 1}
    assert api.call("DELETE", f"/local/faults/{first['id']}").status_code == 404
    assert api.call("DELETE", "/local/faults").data == {"cleared": 1}
    assert api.call("GET", "/local/faults").data == {"items": []}
    assert api.call("POST", "/local/faults", {"service": "ec2"}).status_code == 422
    assert api.call("POST", "/local/faults", {"service": "s3", "ratio": 2}).status_code == 422


def test_the_outbox_names_the_failing_calls(api: Api) -> None:
    from chalicelib.web.outbox import fault_banner

    assert fault_banner([]) == ""
    fault(api, service="sesv2", ratio=1, operations=["SendEmail"])
    banner = fault_banner(FaultStore().active())
    assert "sesv2: SendEmail" in banner and "100%" in banner


# --- issue 13: each defect, reproduced with an outage ---------------------------------------


def test_ses_down_longer_than_the_stream_retries_then_back_every_message_once(
    api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch
) -> None:
    sms_on(api)
    monkeypatch.setattr(get_container().notifications, "sms_daily_cap", 50)
    drill = fault(api, service="sesv2", ratio=1)
    orders = [place(api) for _ in range(3)]
    for order in orders:
        ship(api, order)
    redeliver_like_lambda(tap)
    assert emails() == []
    # The SMS never waited for the email (defect 2): confirmation, receipt and shipped per order.
    assert len(sms_sent()) == 3 * 3
    api.call("DELETE", f"/local/faults/{drill['id']}")
    sweep_until_quiet(get_container().clock.now())
    assert len(emails()) == 3 * 3 and len(set(subjects())) == 9  # each once, none lost (defect 1)
    assert len(sms_sent()) == 9
    for order in orders:
        kinds = Counter(e["kind"] for e in timeline(api, order["id"]))
        assert kinds["notification_sent"] == 6 and kinds["notification_failed"] == 0


def test_s3_down_during_payment_invoice_receipt_and_email_follow_with_no_gap(api: Api, tap: StreamTap) -> None:
    orders = [place(api) for _ in range(3)]
    drain(tap)
    drill = fault(api, service="s3", ratio=1, operations=["PutObject"])
    for order in orders:
        assert pay(api, order).status_code == 201
    redeliver_like_lambda(tap)
    docs = api.call("GET", f"/v1/orders/{orders[0]['id']}/documents", role="agent", sub="a").data["items"]
    assert [(d["kind"], d["download_url"]) for d in docs] == [("invoice", None)]  # number taken, PDF not stored
    assert not any("Zahlung" in subject for subject in subjects())  # the receipt email waits for its PDFs
    api.call("DELETE", f"/local/faults/{drill['id']}")
    sweep_until_quiet(get_container().clock.now())
    numbers = []
    for order in orders:
        docs = api.call("GET", f"/v1/orders/{order['id']}/documents", role="agent", sub="a").data["items"]
        assert len(docs) == 2 and all(d["download_url"] for d in docs)  # the same records, now stored
        numbers += [d["number"] for d in docs if d["kind"] == "invoice"]
    assert sorted(int(re.sub(r"\D", "", n)[-6:]) for n in numbers) == [1, 2, 3]  # no gap, no duplicate
    receipts = [m for m in emails() if "Zahlung" in str(m["Subject"])]
    assert len(receipts) == 3
    assert all(sorted(p.get_filename() for p in m.iter_attachments())[0].startswith("INV-") for m in receipts)


def test_a_poison_item_gives_up_after_the_window_and_the_sweep_sends_the_rest(
    api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    documents = get_container().documents
    poisoned = place(api)
    drain(tap)

    def poison(reference: dict[str, str]) -> bytes:
        if f"/{poisoned['id']}/" in reference["s3_key"]:
            raise KeyError("a bug nobody foresaw")  # neither transient nor permanent: treated as transient
        return original(reference)

    original = documents.attachment_data
    monkeypatch.setattr(documents, "attachment_data", poison)
    assert pay(api, poisoned).status_code == 201
    drain(tap)
    drill = fault(api, service="sesv2", ratio=1)  # the others' emails become due in the same sweep
    others = [place(api) for _ in range(3)]
    redeliver_like_lambda(tap)
    api.call("DELETE", f"/local/faults/{drill['id']}")
    start = get_container().clock.now()
    assert retry_sweep(start + timedelta(hours=25)) == {"given_up": 1, "sent": 3}
    assert retry_sweep(start + timedelta(hours=27)) == {}
    failed = [e for e in timeline(api, poisoned["id"]) if e["kind"] == "notification_failed"]
    assert len(failed) == 1 and failed[0]["data"]["reason"].startswith("gave up after 24 h")
    assert "KeyError" in failed[0]["data"]["reason"] and "foresaw" not in failed[0]["data"]["reason"]
    assert "EffectsGivenUp" in capsys.readouterr().out  # the alarm metric
    for order in others:
        assert Counter(e["kind"] for e in timeline(api, order["id"]))["notification_sent"] == 1


def test_redrive_replays_the_failure_destination_idempotently(
    api: Api, tap: StreamTap, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    import json

    from app import order_events
    from local.lambda_runtime import LambdaContext
    from local.redrive import redrive

    intents = get_container().intents

    def dynamodb_down(intents_to_store: Any, **options: Any) -> Any:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "TransactWriteItems")

    failures = tmp_path / "failures.jsonl"
    with monkeypatch.context() as patch:
        patch.setattr(intents, "record", dynamodb_down)
        place(api)
        records = tap.new_records()
        assert deliver(records)["batchItemFailures"]  # the record fails: its intents could not be stored
        failures.write_text(json.dumps({"DDBStreamBatchInfo": {}, "records": records}) + "\n")
        assert redrive(failures, order_events, LambdaContext("order_events"))["still_failing"] == 1  # the order
    assert emails() == []
    first = redrive(failures, order_events, LambdaContext("order_events"))
    assert first == {"batches": 1, "records": 1, "replayed": 1, "still_failing": 0}
    assert failures.read_text() == ""
    failures.write_text(json.dumps({"records": records}) + "\n")  # replayed twice: nothing more is sent
    redrive(failures, order_events, LambdaContext("order_events"))
    assert len(emails()) == 1


def test_customers_see_only_the_timeline_meant_for_them(api: Api) -> None:
    order = place(api, lines=[{"sku": "MUG-1", "quantity": 1, "unit_price": 999}])  # price mismatch: on hold
    reason = "INTERNAL: card flagged, fraud review by Bob"
    released = staff(api, f"/v1/orders/{order['id']}/holds/price_mismatch/release", {"reason": reason})
    assert released.status_code == 200
    path = f"/v1/orders/{order['id']}/timeline?limit=100"
    mine = api.call("GET", path, role="customer", sub="cus_alice").data["items"]
    staff_view = api.call("GET", path, role="agent", sub="agt_2").data["items"]
    assert "fraud review" not in str(mine) and "agt_1" not in str(mine)
    (entry,) = [e for e in mine if e["kind"] == "hold_released"]
    assert entry["actor"] == "agent" and entry["data"] == {"code": "price_mismatch", "skus": ["MUG-1"]}
    (full,) = [e for e in staff_view if e["kind"] == "hold_released"]
    assert full["data"]["reason"] == reason and full["actor"] == "agent:agt_1"
