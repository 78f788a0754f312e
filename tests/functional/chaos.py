"""The fault-injection harness: a shop's month under flaky AWS and an event source that repeats itself.

One scenario — N orders placed, paid, shipped and delivered, some cancelled, some with a
ticket, an inbound email reply, a return (refund or exchange), a survey answer and SMS
turned on, an outbound webhook subscription with a receiver on 127.0.0.1 — is played
twice through the real app (moto, chalice's test client, one frozen clock):

* calm: no faults, every stream record delivered once;
* chaos: 20 % of the S3, SES, SNS and DynamoDB SDK attempts fail (throttling, 5xx or read
  timeouts, the local fault switch's answers, seeded; in front of every botocore client),
  while a request is served 1 in 10 of its AWS calls fails outright, every stream batch
  is delivered 2–5 times (half of them concurrently, from threads), the clients retry
  what answered 5xx, failing records are retried as Lambda would (from the earliest
  failure, 5 times, then the failure destination), the retry schedule and `redrive`
  finish the rest, and two poisoned records are slipped into the stream.

Then both runs must show the same effects — per order its status, each document kind,
each message per template and channel, the webhook events and the KPI counts — and each
exactly once; nothing is pending and the failure destination holds only the poison.
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chalicelib.adapters.faults import THROTTLE, Fault, FaultInjector, FaultStore, injected
from chalicelib.domain.outbound import EVENT_TYPES
from chalicelib.domain.webhooks import signature_header
from chalicelib.events import STREAM_FILTERS, matches_filter
from local.lambda_runtime import LambdaContext
from tests import clock
from tests.functional.conftest import Api, order_body
from tests.functional.stream_tools import StreamTap
from tests.functional.test_notifications import emails, sms_sent

SERVICES = ("s3", "ses", "sns", "dynamodb")
ERRORS = ("throttle", "server", "timeout")
MAX_STREAM_RETRIES = 5  # the event source mapping's MaximumRetryAttempts
PAYMENT_SECRET = "local-payment-webhook-secret"
CARRIER_SECRET = "local-carrier-webhook-secret"
INBOUND = Path(__file__).resolve().parents[1] / "fixtures" / "inbound" / "gmail_en_reply.eml"


@dataclass(frozen=True)
class Plan:
    """What happens to order `n` (the same in both runs)."""

    n: int
    sms: bool
    cancel: bool
    ticket: bool
    inbound: bool
    returns: str | None  # "refund" | "exchange" | None
    survey: int | None  # the CSAT answered, or None

    @property
    def customer(self) -> dict[str, str]:
        return {
            "id": f"cus_{self.n:04d}",
            "email": f"c{self.n:04d}@example.com",
            "phone": f"+491511{2000000 + self.n:07d}",
            "name": f"Kunde {self.n}",
            "locale": "de-DE" if self.n % 2 else "en-GB",
        }


def plans(orders: int, seed: int) -> list[Plan]:
    rng = random.Random(seed)
    made = []
    for n in range(orders):
        cancel = rng.random() < 0.05
        made.append(
            Plan(
                n=n,
                sms=rng.random() < 0.3,
                cancel=cancel,
                ticket=not cancel and rng.random() < 0.2,
                inbound=not cancel and rng.random() < 0.15,
                returns=None if cancel or rng.random() >= 0.25 else rng.choice(("refund", "exchange")),
                survey=None if cancel or rng.random() >= 0.5 else rng.randint(1, 5),
            )
        )
    return made


@dataclass
class Figures:
    """What the chaos cost: for the closing note."""

    faults: Counter[str] = field(default_factory=Counter)
    api_calls: int = 0
    api_retries: int = 0
    outage_calls: int = 0
    aws_calls: int = 0
    aws_calls_serving: int = 0
    batches: int = 0
    invocations: int = 0
    replays: int = 0
    concurrent_replays: int = 0
    stream_retries: int = 0
    to_failure_queue: int = 0
    redriven: int = 0
    sweeps: int = 0
    sweeps_failed: int = 0
    intents_retried: Counter[str] = field(default_factory=Counter)
    mail_waits: int = 0
    mail_waited: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def lines(self, orders: int) -> list[str]:
        injected = sum(self.faults.values())
        by_service = Counter[str]()
        for key, count in self.faults.items():
            by_service[key.split(":")[0]] += count
        services = ", ".join(f"{k} {v}" for k, v in sorted(by_service.items()))
        return [
            f"fault_harness_orders: {orders}",
            f"fault_harness_aws_calls: {self.aws_calls} (while serving a request: {self.aws_calls_serving})",
            f"fault_harness_faults_injected: {injected} ({services})",
            f"fault_harness_faults_by_kind: {dict(sorted(self.faults.items()))}",
            f"fault_harness_api_calls: {self.api_calls} (retried after a 5xx: {self.api_retries}; "
            f"AWS calls failed outright while serving: {self.outage_calls})",
            f"fault_harness_stream_batches: {self.batches} (invocations {self.invocations}, "
            f"extra deliveries {self.replays}, of them concurrent {self.concurrent_replays})",
            f"fault_harness_stream_retries: {self.stream_retries} "
            f"(records to the failure queue {self.to_failure_queue}, redriven {self.redriven})",
            f"fault_harness_sweeps: {self.sweeps} (failed {self.sweeps_failed}; intents "
            f"{dict(sorted(self.intents_retried.items()))})",
            f"fault_harness_survey_mail_waits: {self.mail_waits} (5-minute steps; still pending then: "
            f"{len(self.mail_waited)} survey emails)",
            f"fault_harness_seconds: {self.seconds:.1f}",
        ]


SDK_ATTEMPTS = 3  # botocore's standard retry mode
OUTAGE = 0.1  # of the AWS calls made while a request is served: fail outright (CountingInjector)


class CountingInjector(FaultInjector):
    """The local fault switch's botocore hook, seeded, counting what it injected."""

    def __init__(self, store: FaultStore, rng: random.Random, figures: Figures):
        super().__init__(store, rng)
        self.figures = figures
        self.lock = threading.Lock()
        # While a request is served, this share of its AWS calls fails outright (every SDK attempt):
        # an outage the SDK's retries do not ride out, so requests answer 5xx part-way through their
        # writes and the clients retry them — at any size (20 % of attempts alone fail a call 0.8 %
        # of the time: no 5xx at all below ~50 orders).
        self.outage = 0.0
        self.serving = False

    def __call__(self, event_name: str = "", **kwargs: Any) -> Any:
        """A share of every SDK *attempt* fails: the hook sits before the call (outside botocore's
        retry loop), so it draws once per attempt and fails the call only when all of them failed,
        as the SDK's own retries (standard mode, 3 attempts) would see it."""
        with self.lock:  # one seeded sequence of draws, whichever thread calls
            service, _, operation = event_name.partition(".")[2].partition(".")
            self.figures.aws_calls += 1
            self.figures.aws_calls_serving += self.serving
            if self.serving and service in THROTTLE and self.rng.random() < self.outage:
                error = self.rng.choice(ERRORS)
                for _ in range(SDK_ATTEMPTS):
                    self._count(event_name, error)
                self.figures.outage_calls += 1
                return injected(Fault(service, 1.0, error), service, operation)
            for attempt in range(1, SDK_ATTEMPTS + 1):
                try:
                    answer = super().__call__(event_name, **kwargs)
                except Exception:
                    self._count(event_name, "timeout")
                    if attempt == SDK_ATTEMPTS:
                        raise
                    continue
                if answer is None:
                    return None
                self._count(event_name, "throttle" if answer[0].status_code in (400, 429, 503) else "server")
        return answer

    def _count(self, event_name: str, kind: str) -> None:
        service = event_name.split(".")[1] if "." in event_name else "?"
        self.figures.faults[f"{'ses' if service == 'sesv2' else service}:{kind}"] += 1


class Receiver:
    """The storefront's webhook endpoint on 127.0.0.1: every request kept, one in five answered 503."""

    def __init__(self, rng: random.Random | None) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[tuple[int, bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    answer = 503 if rng is not None and rng.random() < 0.2 else 200
                    receiver.requests.append((answer, body))
                self.send_response(answer)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ordercare"

    def accepted(self) -> list[dict[str, Any]]:
        return [json.loads(body) for answer, body in self.requests if answer == 200]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def poison_record(n: int, arn: str) -> dict[str, Any]:
    """A stream record no handler can ever process: an order image without its attributes."""
    return {
        "eventID": f"poison-{n}",
        "eventName": "MODIFY",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-central-1",
        "dynamodb": {
            "Keys": {"pk": {"S": f"ORDER#ord_poison{n}"}, "sk": {"S": "ORDER"}},
            "NewImage": {"pk": {"S": f"ORDER#ord_poison{n}"}, "sk": {"S": "ORDER"}, "type": {"S": "order"}},
            "SequenceNumber": f"9{n:020d}",
            "SizeBytes": 64,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
        "eventSourceARN": arn,
    }


class Tap(StreamTap):
    """StreamTap reading on from where it stopped (the shard only grows): O(new records) a call."""

    def __init__(self, table: str):
        super().__init__(table)
        self.position = 0

    def new_records(self) -> list[dict[str, Any]]:
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        from local.streams import to_lambda_record

        shard = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].get_table(self.table).stream_shard
        assert shard is not None, "the table has no stream"
        fresh = [to_lambda_record(r.to_json(), self.arn, "eu-central-1") for r in shard.items[self.position :]]
        self.position = len(shard.items)
        self.all += fresh
        return fresh


class Run:
    """One play of the scenario through the app; `chaos` turns the faults and replays on."""

    def __init__(self, api: Api, plan: list[Plan], *, chaos: bool, seed: int, workdir: Path):
        self.api = api
        self.plan = plan
        self.chaos = chaos
        self.rng = random.Random(seed + 1)
        self.figures = Figures()
        self.tap = Tap("ordercare-test")
        self.tap.new_records()
        self.failures = workdir / f"failures-{'chaos' if chaos else 'calm'}.jsonl"
        self.store = FaultStore(workdir / f"faults-{'chaos' if chaos else 'calm'}.json")
        self.injector = CountingInjector(self.store, random.Random(seed + 2), self.figures)
        self.receiver = Receiver(random.Random(seed + 3) if chaos else None)
        self.orders: dict[int, dict[str, Any]] = {}
        self.replacements: dict[int, str] = {}
        self.poison: set[str] = set()
        self.next_sweep = clock.now()
        self.fired: list[Any] = []

    # --- the switch ---------------------------------------------------------------------------

    @contextmanager
    def hooked(self) -> Iterator[None]:
        """The injector in front of every botocore client of this process, whenever it was made.

        botocore copies a session's handlers into each client it creates, and pynamodb's sessions are
        shared across tests (tests/speedups.py): a handler registered now would miss every client made
        before, the request path's included. So the hook sits in the emitter itself, where each
        client asks its `before-call` handlers for an answer."""
        from botocore.hooks import HierarchicalEmitter

        injector, original = self.injector, HierarchicalEmitter.emit_until_response

        def emit_until_response(emitter: Any, event_name: str, **kwargs: Any) -> Any:
            if event_name.startswith("before-call."):
                answer = injector(event_name, **kwargs)
                if answer is not None:
                    return injector, answer
            return original(emitter, event_name, **kwargs)

        HierarchicalEmitter.emit_until_response = emit_until_response
        try:
            yield
        finally:
            HierarchicalEmitter.emit_until_response = original

    def faults_on(self) -> None:
        if not self.chaos:
            return
        share = 1 - 0.8 ** (1 / len(ERRORS))  # three faults per service: 20 % of its calls fail in all
        for service in SERVICES:
            for error in ERRORS:
                self.store.add(Fault(service, share, error))
        self.injector.outage = OUTAGE

    def faults_off(self) -> None:
        self.store.clear()
        self.injector.outage = 0.0

    # --- clients that retry what answered 5xx (a storefront, an agent's browser, a carrier) -----

    def call(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        for _ in range(30):
            self.figures.api_calls += 1
            self.injector.serving = True
            try:
                response = self.api.call(method, path, body, **kwargs)
            finally:
                self.injector.serving = False
            if response.status_code < 500:
                return response
            self.figures.api_retries += 1
        raise AssertionError(f"{method} {path} kept answering 5xx: {response.status_code} {response.data}")

    def ok(self, method: str, path: str, body: Any = None, *, expect: tuple[int, ...] = (200, 201), **kw: Any) -> Any:
        response = self.call(method, path, body, **kw)
        assert response.status_code in expect, (method, path, response.status_code, response.data)
        return response.data

    def signed(self, path: str, payload: dict[str, Any], secret: str) -> Any:
        raw = json.dumps(payload).encode()
        for _ in range(30):  # the provider re-sends the same event, re-signed
            header = signature_header(secret, raw, int(time.time()))
            response = self.call("POST", path, raw=raw, headers={"X-OrderCare-Signature": header})
            if response.status_code < 500:
                assert response.status_code == 200, (path, response.status_code, response.data)
                return response.data
        raise AssertionError(path)

    # --- the stream, as an event source mapping that repeats itself ---------------------------

    def pump(self, rounds: int = 40) -> None:
        """Deliver every new record to each consumer until the stream is quiet."""
        from app import order_events, webhook_deliveries
        from chalicelib.documents_app import document_intents

        consumers = (
            ("order_events", order_events),
            ("document_intents", document_intents),  # the documents function (its own package)
            ("webhook_deliveries", webhook_deliveries),
        )
        for _ in range(rounds):
            records = self.tap.new_records()
            if not records:
                return
            if self.chaos and len(self.poison) < 2 and len(records) > 3:
                bad = poison_record(len(self.poison), self.tap.arn)
                self.poison.add(bad["dynamodb"]["SequenceNumber"])
                records.insert(len(records) // 2, bad)  # mid-batch: the records after it must not wait
            for name, handler in consumers:
                passed = [r for r in records if matches_filter(STREAM_FILTERS.get(name), r)]
                for start in range(0, len(passed), 100):
                    self.batch(name, handler, passed[start : start + 100])
        raise AssertionError("the stream never went quiet")

    def batch(self, name: str, handler: Callable[..., Any], records: list[dict[str, Any]]) -> None:
        self.figures.batches += 1
        copies = self.rng.randint(2, 5) if self.chaos else 1
        self.figures.replays += copies - 1
        if copies > 1 and self.rng.random() < 0.5:
            self.figures.concurrent_replays += copies - 1
            with ThreadPoolExecutor(copies) as pool:
                list(pool.map(lambda _: self.deliver(name, handler, records), range(copies)))
        else:
            for _ in range(copies):
                self.deliver(name, handler, records)

    def deliver(self, name: str, handler: Callable[..., Any], records: list[dict[str, Any]]) -> None:
        """Lambda's semantics: from the earliest reported failure again, 5 retries, then the failure queue."""
        pending, retries = list(records), 0
        while pending:
            self.figures.invocations += 1
            try:
                result = handler({"Records": pending}, LambdaContext(name))
                failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
            except Exception:
                failed = {record["dynamodb"]["SequenceNumber"] for record in pending}
            first = next((i for i, r in enumerate(pending) if r["dynamodb"]["SequenceNumber"] in failed), None)
            if first is None:
                return
            pending = pending[first:]
            retries += 1
            if retries <= MAX_STREAM_RETRIES:
                self.figures.stream_retries += 1
                continue
            self.figures.to_failure_queue += 1
            with self.failures.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"function": name, "records": pending[:1]}) + "\n")
            pending, retries = pending[1:], 0  # the shard moves on past the discarded record

    def redrive(self) -> None:
        from app import order_events
        from local.redrive import redrive

        counts = redrive(self.failures, order_events, LambdaContext("order_events"))
        self.figures.redriven += counts["replayed"]

    def sweep(self, at: datetime) -> dict[str, int]:
        """The retry schedule, fired as EventBridge would (local.scheduler.fire)."""
        import app
        from local.scheduler import fire, local_schedules

        # Both lanes' retry schedules: the documents function's first (it sends the emails that
        # wait for its documents), then the main one.
        by_name = {s.name: s for s in local_schedules(app)}
        summaries = [fire(by_name[name], at) for name in ("retry_documents", "retry_notifications")]
        self.figures.sweeps += len(summaries)
        ok = all(summary["ok"] for summary in summaries)
        # The schedule's rate is 5 minutes; here a firing that failed comes again 5 minutes later,
        # one that worked 30 minutes later (an intent's backoff reaches an hour within 2 hours).
        self.next_sweep = at + timedelta(minutes=30 if ok else 5)
        if not ok:
            self.figures.sweeps_failed += 1
            return {"error": 1}
        intents: Counter[str] = Counter()
        for summary in summaries:
            intents.update(summary["result"]["intents"])
        self.figures.intents_retried.update(intents)
        return dict(intents)

    def schedule(self, name: str, every: timedelta) -> Any:
        """Fire `name` on its rate until a firing leaves nothing to retry (the clock moves on between)."""
        import app
        from local.scheduler import discover_schedules, fire

        [schedule] = [s for s in discover_schedules(app) if s.name == name]
        for _ in range(400):
            summary = fire(schedule, clock.now())
            self.figures.sweeps += 1
            self.fired.append(summary.get("result") or summary.get("error"))
            if summary["ok"] and not any(
                part.get("retry") for part in summary["result"].values() if isinstance(part, dict)
            ):
                return summary["result"]
            self.figures.sweeps_failed += 1
            self.advance(clock.now() + every)
        raise AssertionError(f"{name} kept failing: {summary}")

    def advance(self, to: datetime) -> None:
        """Move the clock to `to` as a running stack lives through it: the retry schedule keeps
        firing (see `sweep`)."""
        while self.chaos and self.next_sweep < to:
            # A firing with no intent due does nothing: the clock goes straight to the next one that
            # has work (each firing cost a few GSI queries, O(table) each in moto: 200 orders ran for hours).
            due = self.next_due()
            if due is None or due >= to:
                break
            self.next_sweep = max(self.next_sweep, due)
            clock.advance_to(self.next_sweep)
            self.sweep(clock.now())
            self.pump()
        clock.advance_to(to)

    def next_due(self) -> datetime | None:
        """When the retry schedule next finds an intent due (its earliest next attempt), or None."""
        from chalicelib.adapters.dynamo.intents import DUE_PREFIX

        stamps = [
            str(attrs["gsi1sk"].value)
            for attrs in self.table_attrs()
            if "gsi1pk" in attrs and "gsi1sk" in attrs and str(attrs["gsi1pk"].value).startswith(DUE_PREFIX)
        ]
        return datetime.strptime(min(stamps), "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC) if stamps else None

    def settle(self) -> None:
        """What the running stack does between two steps: the stream, then a retry sweep or two."""
        if os.environ.get("FAULT_HARNESS_VERBOSE"):
            sys.stdout.write(f"{'chaos' if self.chaos else 'calm'} {clock.now():%d %H:%M} {self.figures}\n")
        self.pump()
        if self.chaos:
            for minutes in (2, 5):
                clock.advance_to(clock.now() + timedelta(minutes=minutes))
                self.sweep(clock.now())
            self.pump()

    # --- the scenario -------------------------------------------------------------------------

    def play(self) -> None:
        started = time.perf_counter()
        with self.hooked():
            self.ok("POST", "/v1/webhook-subscriptions", {"url": self.receiver.url, "events": list(EVENT_TYPES)},
                    role="admin", sub="adm")  # fmt: skip
            for plan in self.plan:
                if plan.sms:
                    prefs = {"email": True, "sms": True, "locale": plan.customer["locale"]}
                    cid = plan.customer["id"]
                    self.ok("PUT", f"/v1/customers/{cid}/preferences", prefs, role="customer", sub=cid)
            self.faults_on()
            self.lifecycle()
            self.faults_off()
            self.finish()
        self.figures.seconds = time.perf_counter() - started

    def lifecycle(self) -> None:
        start = clock.now()
        for plan in self.plan:
            body = order_body(customer=plan.customer)
            key = {"Idempotency-Key": f"place-{plan.n}"}
            self.orders[plan.n] = self.ok("POST", "/v1/orders", body, role="storefront", sub="web", headers=key)
        self.settle()
        for plan in self.plan:
            order = self.orders[plan.n]
            if plan.cancel:
                self.ok("POST", f"/v1/orders/{order['id']}/cancel", role="customer", sub=plan.customer["id"])
                continue
            payment = {"amount": order["total"], "method": "card", "provider_ref": f"pi_{plan.n}"}
            key = {"Idempotency-Key": f"pay-{plan.n}"}
            self.ok("POST", f"/v1/orders/{order['id']}/payments", payment, role="storefront", sub="web", headers=key)
        self.settle()
        self.advance(start + timedelta(hours=5))
        for plan in self.plan:
            if not plan.cancel:
                self.ship(self.orders[plan.n]["id"], f"TRK{plan.n:08d}")
        self.settle()
        self.advance(start + timedelta(days=2))
        for plan in self.plan:
            if not plan.cancel:
                self.delivered(f"TRK{plan.n:08d}")
        self.settle()
        self.advance(start + timedelta(days=2, hours=3))
        self.support()
        self.settle()
        self.advance(start + timedelta(days=5, hours=1))
        self.surveys()
        self.settle()
        self.advance(start + timedelta(days=6))
        self.returns()
        self.settle()
        self.advance(start + timedelta(days=6, hours=5))
        for n, order_id in sorted(self.replacements.items()):
            self.ship(order_id, f"TRX{n:08d}", processing=True)
        self.settle()
        self.advance(start + timedelta(days=8))
        for n in sorted(self.replacements):
            self.delivered(f"TRX{n:08d}")
        self.settle()

    def ship(self, order_id: str, tracking: str, *, processing: bool = False) -> None:
        if processing:
            self.ok("POST", f"/v1/orders/{order_id}/processing", role="agent", sub="agt_1", expect=(200, 409))
        shipment = {"carrier": "dhl", "tracking_number": tracking}
        # A retry after a 5xx whose write had happened finds the order shipped: 409, and that is fine.
        self.ok("POST", f"/v1/orders/{order_id}/shipments", shipment, role="agent", sub="agt_1", expect=(201, 409))

    def delivered(self, tracking: str) -> None:
        at = clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        payload = {"event_id": f"dlv-{tracking}", "tracking_number": tracking, "status": "delivered", "occurred_at": at}
        self.signed("/v1/webhooks/carrier", payload, CARRIER_SECRET)

    def support(self) -> None:
        from chalicelib.bootstrap import get_container

        for plan in self.plan:
            order_id = self.orders[plan.n]["id"]
            if plan.ticket:
                body = {"order_id": order_id, "category": "delay", "message": f"Question {plan.n} about my order"}
                ticket = self.ok("POST", "/v1/tickets", body, role="customer", sub=plan.customer["id"])
                reply = {"message": f"Answer {plan.n}: it is on its way."}
                self.ok("POST", f"/v1/tickets/{ticket['id']}/messages", reply, role="agent", sub="agt_1")
            if plan.inbound:
                text = INBOUND.read_text(encoding="utf-8")
                values = {
                    "REPLY_TO": get_container().reply_address(order_id),
                    "FROM": plan.customer["email"],
                    "IN_REPLY_TO": f"<conf-{plan.n}@example.com>",
                    "REFERENCES": f"<conf-{plan.n}@example.com>",
                }
                for name, value in values.items():
                    text = text.replace("{{" + name + "}}", value)
                text = text.replace("Message-ID: <", f"Message-ID: <n{plan.n}-", 1)
                self.ok("POST", "/local/inbound-email", raw=text.encode(), headers={"Content-Type": "message/rfc822"},
                        expect=(202,))  # fmt: skip

    def surveys(self) -> None:
        import re

        self.schedule("feedback", timedelta(minutes=15))
        self.settle()
        self.await_messages("survey:")
        links: dict[str, str] = {}
        for message in emails():
            text = message.get_body(preferencelist=("plain",)).get_content()
            for token in re.findall(r"/surveys/([A-Za-z0-9_.-]+)\?score=1", text):
                links[str(message["To"])] = token
        for plan in self.plan:
            token = links.get(plan.customer["email"])
            if plan.survey is not None and token:
                self.ok("POST", f"/v1/surveys/{token}", {"csat": plan.survey}, expect=(201, 409))

    def await_messages(self, prefix: str) -> None:
        """A customer answers a survey once its email has come: under chaos a send that failed waits for
        the retry schedule (its backoff), so the clock moves on until no such message is pending."""
        for _ in range(60):
            waiting = self.pending_messages(prefix)
            if not waiting:
                return
            self.figures.mail_waits += 1
            self.figures.mail_waited.update(waiting)
            clock.advance_to(clock.now() + timedelta(minutes=5))
            self.sweep(clock.now())
            self.pump()
        raise AssertionError(f"messages {prefix}* never went out")

    def pending_messages(self, prefix: str) -> set[str]:
        """The keys of message intents starting with `prefix` not ended yet (read from the table)."""
        return {
            str(item["key"])
            for item in self.scan_intents()
            if item.get("kind") == "message"
            and str(item.get("key", "")).startswith(prefix)
            and item.get("status") == "pending"
        }

    def returns(self) -> None:
        for plan in self.plan:
            if plan.returns is None:
                continue
            order_id, cid = self.orders[plan.n]["id"], plan.customer["id"]
            body = {"lines": [{"sku": "MUG-1", "quantity": 1}], "reason": "damaged", "resolution": plan.returns}
            made = self.ok("POST", f"/v1/orders/{order_id}/returns", body, role="customer", sub=cid,
                           headers={"Idempotency-Key": f"ret-{plan.n}"})  # fmt: skip
            self.ok("POST", f"/v1/returns/{made['id']}/approve", role="agent", sub="agt_1", expect=(200, 409))
            lines = {"lines": [{"sku": "MUG-1", "quantity": 1, "condition": "restockable"}]}
            received = self.ok("POST", f"/v1/returns/{made['id']}/receive", lines, role="agent", sub="agt_1")
            if plan.returns == "exchange":
                self.replacements[plan.n] = received["replacement_order_id"]
            else:
                refund = {"event_id": f"rf-{plan.n}", "order_id": order_id, "amount": received["refund_amount"],
                          "provider_ref": f"pi_{plan.n}", "status": "refunded"}  # fmt: skip
                self.settle()  # the credit note first, as a payment provider takes its time
                self.signed("/v1/webhooks/payment", refund, PAYMENT_SECRET)

    def finish(self) -> None:
        """The outage is over: the stream, the retry schedule and `redrive` finish everything."""
        for _ in range(12):
            self.pump()
            self.redrive()
            self.pump()
            quiet = True
            for _ in range(8):
                clock.advance_to(clock.now() + timedelta(minutes=70))  # past any backoff (1 min … 1 h)
                if not self.sweep(clock.now()):
                    break
                quiet = False
                self.pump()
            if quiet and not self.tap.new_records():
                return
        raise AssertionError("the retry machinery never went quiet")

    # --- what came of it ----------------------------------------------------------------------

    def outcome(self) -> dict[str, Any]:
        """Every effect, keyed by the scenario (not by ids, which differ between runs)."""
        per_order: dict[str, Any] = {}
        ids = {
            **{f"o{n}": o["id"] for n, o in self.orders.items()},
            **{f"x{n}": i for n, i in self.replacements.items()},
        }
        for label, order_id in sorted(ids.items()):
            order = self.ok("GET", f"/v1/orders/{order_id}", role="agent", sub="a")
            docs = self.ok("GET", f"/v1/orders/{order_id}/documents", role="agent", sub="a")["items"]
            entries = self.timeline(order_id)
            sent = Counter(
                f"{e['data'].get('template')}/{e['data'].get('channel')}"
                for e in entries
                if e["kind"] == "notification_sent"
            )
            per_order[label] = {
                "status": order["status"],
                "documents": dict(Counter(d["kind"] for d in docs)),
                "stored": all(d.get("download_url") for d in docs),
                "sent": dict(sent),
                "failed": sum(1 for e in entries if e["kind"] in ("notification_failed", "document_failed")),
            }
        mails = emails()
        mail_keys = Counter(
            (str(m["To"]), str(m["Subject"]), m.get_body(preferencelist=("plain",)).get_content()) for m in mails
        )
        sms = Counter(sms_sent())
        accepted = self.receiver.accepted()
        kpis = self.ok("GET", "/v1/reports/kpis?period=quarter&start=2026-10-01", role="admin", sub="boss")["kpis"]
        return {
            "orders": per_order,
            "emails": len(mails),
            "email_duplicates": sum(c - 1 for c in mail_keys.values()),
            "duplicated_subjects": sorted(key[1] for key, c in mail_keys.items() if c > 1),
            "sms": sum(sms.values()),
            "sms_duplicates": sum(c - 1 for c in sms.values()),
            "webhook_events": dict(Counter(event["type"] for event in accepted)),
            "webhook_duplicates": len(accepted) - len({event["id"] for event in accepted}),
            "kpis": {k["name"]: (k["numerator"], k["denominator"]) for k in kpis},
            "invoice_numbers": self.numbers(per_order, ids),
            "pending_intents": self.intents(),
        }

    def timeline(self, order_id: str) -> list[dict[str, Any]]:
        path, entries = f"/v1/orders/{order_id}/timeline?limit=100", []
        while True:
            page = self.ok("GET", path, role="agent", sub="a")
            entries += page["items"]
            if not page.get("next_cursor"):
                return entries
            path = f"/v1/orders/{order_id}/timeline?limit=100&cursor={page['next_cursor']}"

    def numbers(self, per_order: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
        """Invoice and credit note numbers: unique and gap-free (their count and range)."""
        found: dict[str, list[int]] = {}
        for order_id in ids.values():
            for doc in self.ok("GET", f"/v1/orders/{order_id}/documents", role="agent", sub="a")["items"]:
                if doc["kind"] in ("invoice", "credit_note"):
                    found.setdefault(doc["kind"], []).append(int("".join(c for c in doc["number"] if c.isdigit())[-6:]))
        return {kind: (len(v), len(set(v)), min(v), max(v)) for kind, v in sorted(found.items())}

    def intents(self) -> Counter[str]:
        """Intents not done: (kind, status) counts, read from the table itself."""
        left: Counter[str] = Counter()
        for item in self.scan_intents():
            if item.get("status") not in ("done", "skipped"):
                left[f"{item.get('kind')}/{item.get('status')}"] += 1
        return left

    def scan_intents(self) -> Iterator[dict[str, str]]:
        """Every intent's kind, key and status (see `table_attrs`)."""
        for attrs in self.table_attrs():
            if "type" in attrs and attrs["type"].value == "intent":
                yield {name: str(attrs[name].value) for name in ("kind", "key", "status") if name in attrs}

    def table_attrs(self) -> Iterator[dict[str, Any]]:
        """Every item's attributes, read from moto's table itself: not through the SDK, so the fault hook
        neither fails this look nor draws for it (the chaos stays one sequence), and no sort or copy."""
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        table = dynamodb_backends[DEFAULT_ACCOUNT_ID]["eu-central-1"].get_table("ordercare-test")
        for by_range in list(table.items.values()):
            for item in list(by_range.values()):
                yield item.attrs

    def failure_queue(self) -> set[str]:
        if not self.failures.exists():
            return set()
        lines = [json.loads(line) for line in self.failures.read_text(encoding="utf-8").splitlines() if line.strip()]
        return {record["dynamodb"]["SequenceNumber"] for line in lines for record in line["records"]}
