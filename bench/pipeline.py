"""Full order lifecycle through the local stack's real pieces: throughput and stream-processing lag.

DynamoDB Local (its real stream), moto's server in this process for SES/SESv2/SNS/S3
(started and provisioned exactly as `make run` does: local/stack.py), and the stream
replayer delivering the table's stream to app.order_events with the stack's polling
defaults. N orders go place -> pay -> processing -> ship -> carrier "delivered" through
the service layer (DRIVERS threads, as concurrent API requests would), each change
producing its email (confirmation, receipt, shipped, delivered).

* lifecycle_orders_per_s: N ÷ (first write -> last notification sent);
* stream_lag_burst_p50/p95_ms: for every milestone of the burst, the order change's
  write (the service call returned) -> its `notification_sent` timeline entry's `at`
  (taken just before the SES call; both from this process's clock);
* stream_lag_p50/p95_ms: the same at quiet times (orders one at a time, half the burst rate).

N is 50 (`OC_BENCH_LIFECYCLE_ORDERS=1000` for a long burst). The replayer runs with
the settings' ParallelizationFactor and batching window, as the mappings in AWS do.
Emails are counted in moto's backend (this process), not through its HTTP API: a
poll of /moto-api/data.json serialises every message sent so far, and at the burst's
end that costs more CPU than the pipeline being measured.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ORDERS = int(os.environ.get("OC_BENCH_LIFECYCLE_ORDERS", "50"))
DRIVERS = 4
PACED = 20
TABLE = "ordercare-bench-pipeline"
MILESTONES = ("order_confirmation", "payment_receipt", "shipped", "delivered")


@contextmanager
def _environment() -> Iterator[None]:
    """Restore os.environ afterwards; keep the app's INFO logs and moto's access log off the output."""
    from chalicelib.observability import get_logger

    saved = dict(os.environ)
    os.environ["POWERTOOLS_LOG_LEVEL"] = "WARNING"
    get_logger()  # built now, at that level, if it was not before
    loggers = [logging.getLogger(name) for name in ("ordercare", "werkzeug")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        os.environ.clear()
        os.environ.update(saved)


def _sent_emails(emulator_url: str) -> int:
    """Raw emails moto has accepted (its server runs in this process: local/stack.py)."""
    from moto.ses.models import RawMessage, ses_backends

    del emulator_url  # the same backend the server behind it uses
    return sum(
        sum(isinstance(message, RawMessage) for message in list(backend.sent_messages))
        for account in list(ses_backends.values())
        for backend in list(account.values())
    )


def _lifecycle(container: Any, n: int) -> dict[str, Any]:
    """One order from placement to delivery; when each milestone's change was written."""
    from chalicelib.domain.address import Address
    from chalicelib.domain.orders import Customer, Payment
    from chalicelib.services.orders import CarrierUpdate, IdempotentRequest, PlaceOrder

    orders = container.orders
    written: dict[str, Any] = {}
    command = PlaceOrder(
        customer=Customer(f"cus_{n}", f"bench{n}@example.com", "Bench Kunde", None, "de-DE"),
        currency="EUR",
        lines=[("MUG-1", 2, 1299)],
        shipping_address=Address("Bench Kunde", "Hauptstr. 1", "Berlin", "10115", "DE"),
        shipping_method="standard",
        shipping_fee=499,
        discounts=[],
    )
    request = IdempotentRequest("web", str(uuid.uuid4()), {"n": n})
    _, placed = orders.place(command, request, "storefront:web", lambda o: {"id": o.id, "total": o.totals.total})
    written["order_confirmation"] = datetime.now(UTC)
    order_id = placed["id"]
    payment = Payment(placed["total"], "card", f"pi_{uuid.uuid4().hex[:10]}", datetime.now(UTC))
    orders.pay(
        order_id,
        payment,
        IdempotentRequest("web", str(uuid.uuid4()), {"order_id": order_id}),
        "storefront:web",
        lambda o: {},
    )
    written["payment_receipt"] = datetime.now(UTC)
    orders.start_processing(order_id, "agent:bench")
    _, shipment = orders.ship(order_id, "dhl", f"TRK{uuid.uuid4().hex[:12].upper()}", None, "agent:bench")
    written["shipped"] = datetime.now(UTC)
    update = CarrierUpdate(str(uuid.uuid4()), shipment.tracking_number, "delivered", datetime.now(UTC), None)
    if orders.carrier_event(update) != "applied":
        raise AssertionError(f"carrier event not applied to {order_id}")
    written["delivered"] = datetime.now(UTC)
    return {"id": order_id, **written}


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run() -> list[str]:
    from chalicelib.bootstrap import get_container, reset_container
    from chalicelib.domain.catalog import CatalogItem
    from chalicelib.settings import Settings
    from local.dynamodb_local import DynamoDBLocal
    from local.processes import free_port
    from local.stack import _DROPPED_ENV, StackConfig, _provision, _start_emulator, app_environment
    from local.streams import StreamReplayer, consumers_from_app

    config = StackConfig(api_port=free_port(), ddb_port=free_port(), aws_port=free_port())
    with _environment():
        os.environ.update(app_environment(config, os.environ))
        for name in _DROPPED_ENV:
            os.environ.pop(name, None)
        os.environ["OC_TABLE_NAME"] = TABLE
        reset_container()
        ddb = DynamoDBLocal(config.ddb_port, startup_timeout=90).start()
        emulator = _start_emulator(config)
        replayer: StreamReplayer | None = None
        try:
            _provision(config, dict(os.environ))
            import app

            container = get_container()
            settings = Settings.from_env(os.environ)
            container.catalog.upsert(CatalogItem("MUG-1", "Mug", 1299, "EUR", 10**6, 1900))
            replayer = StreamReplayer(
                TABLE,
                consumers_from_app(app),
                endpoint_url=config.dynamodb_url,
                region=config.region,
                failures_path=None,
                parallelization_factor=settings.stream_parallelization_factor,
                batching_window=settings.stream_batching_window_seconds,
            ).start()

            # Warm-up: clients, templates and the stream's shard, as a running stack has them.
            _lifecycle(container, -1)
            sent = len(MILESTONES)
            _wait_for_emails(config.emulator_url, sent, replayer)

            # 1. Throughput: a burst of ORDERS lifecycles from DRIVERS threads.
            started = datetime.now(UTC)
            cpu = _cpu_seconds(ddb.pid)
            with ThreadPoolExecutor(DRIVERS) as pool:
                burst = list(pool.map(lambda n: _lifecycle(container, n), range(ORDERS)))
            sent += len(MILESTONES) * ORDERS
            _drain(config.emulator_url, sent, replayer)
            cpu_used = [after - before for before, after in zip(cpu, _cpu_seconds(ddb.pid), strict=True)]
            burst_lags, last_sent = _lags(burst)
            elapsed = (last_sent - started).total_seconds()
            throughput = ORDERS / elapsed

            # 2. Lag: orders arriving one at a time at half that rate, as a pipeline that keeps up sees them.
            interval = 2 / throughput
            paced: list[dict[str, Any]] = []
            for n in range(PACED):
                tick = time.monotonic()
                paced.append(_lifecycle(container, ORDERS + n))
                time.sleep(max(0.0, interval - (time.monotonic() - tick)))
            sent += len(MILESTONES) * PACED
            _drain(config.emulator_url, sent, replayer)
            lags, _ = _lags(paced)
            if replayer.failures:
                raise AssertionError(f"{len(replayer.failures)} stream batches went to the failure destination")
            stream = replayer.stats()["order_events"]
        finally:
            if replayer is not None:
                replayer.stop()
            emulator.stop()
            ddb.stop()
            reset_container()

    load = f"{ORDERS} orders x {len(MILESTONES)} emails from {DRIVERS} threads at once"
    pace = f"{PACED} orders, one every {interval:.2f} s (half the burst rate), replayer polling every 0.2 s"
    lanes = (
        f"ParallelizationFactor {settings.stream_parallelization_factor}, "
        f"batching window {settings.stream_batching_window_seconds} s"
    )
    python_ms, ddb_ms = (1000 * seconds / ORDERS for seconds in cpu_used)
    return [
        f"lifecycle_orders_per_s: {throughput:.1f} ({load}: {elapsed:.1f} s to the last email; {lanes})",
        f"lifecycle_cpu_ms_per_order: {python_ms + ddb_ms:.0f} (CPU the burst cost per order, whatever else runs "
        f"on the machine: this process — drivers, stream consumer, moto — {python_ms:.0f}, DynamoDB Local "
        f"{ddb_ms:.0f}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)",
        f"stream_lag_burst_p50_ms: {statistics.median(burst_lags):.0f} (the burst: order change written -> its "
        "email sent)",
        f"stream_lag_burst_p95_ms: {_percentile(burst_lags, 0.95):.0f} (max {max(burst_lags):.0f}, "
        f"{len(burst_lags)} milestones)",
        f"stream_lag_p50_ms: {statistics.median(lags):.0f} (quiet times: order change written -> its email sent; "
        f"{pace})",
        f"stream_lag_p95_ms: {_percentile(lags, 0.95):.0f} (max {max(lags):.0f}, {len(lags)} milestones)",
        _filter_line(stream),
    ]


def _cpu_seconds(ddb_pid: int | None) -> tuple[float, float]:
    """CPU seconds used so far by this process and by DynamoDB Local (its JVM, from /proc)."""
    ddb = 0.0
    if ddb_pid is not None:
        try:
            fields = Path(f"/proc/{ddb_pid}/stat").read_text().rsplit(")", 1)[1].split()
            ddb = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
        except (OSError, IndexError, ValueError):
            ddb = 0.0
    return time.process_time(), ddb


def _filter_line(stream: dict[str, int]) -> str:
    """What the mapping's FilterCriteria (order items only) saves: records and invocations."""
    delivered, filtered = stream["records_delivered"], stream["records_filtered"]
    invocations, saved = stream["invocations"], stream["invocations_saved"]
    return (
        f"stream_invocations: {invocations} with the filter, {invocations + saved} without "
        f"({saved} saved; {filtered} of {delivered + filtered} records — timeline, intent, document "
        f"writes — no longer reach order_events)"
    )


def _drain(emulator_url: str, expected: int, replayer: Any) -> None:
    """Every expected email sent, the stream idle, and not one email more."""
    _wait_for_emails(emulator_url, expected, replayer)
    if not replayer.wait_until_idle(timeout=30) or _sent_emails(emulator_url) != expected:
        raise AssertionError(f"expected exactly {expected} emails, moto has {_sent_emails(emulator_url)}")


def _lags(orders: list[dict[str, Any]]) -> tuple[list[float], datetime]:
    """Milliseconds from each change's write to its `notification_sent` entry; the last send.

    The entries are read straight from the table (not through the timeline route)."""
    from chalicelib.adapters.dynamo.models import TimelineItem
    from chalicelib.adapters.dynamo.repositories import EVENT_PREFIX, order_pk

    lags: list[float] = []
    last = datetime.min.replace(tzinfo=UTC)
    for order in orders:
        entries = TimelineItem.query(order_pk(order["id"]), TimelineItem.sk.startswith(EVENT_PREFIX))
        sent = {e.data.get("template"): e.at for e in entries if e.kind == "notification_sent"}
        if set(sent) != set(MILESTONES):
            raise AssertionError(f"order {order['id']}: notifications sent {sorted(sent)}")
        lags += [(sent[milestone] - order[milestone]).total_seconds() * 1000 for milestone in MILESTONES]
        last = max(last, *sent.values())
    return lags, last


def _wait_for_emails(emulator_url: str, count: int, replayer: Any, timeout: float | None = None) -> None:
    timeout = timeout or 90.0 + ORDERS / 2  # a long burst (OC_BENCH_LIFECYCLE_ORDERS) drains longer
    deadline = time.monotonic() + timeout
    while _sent_emails(emulator_url) < count:
        if time.monotonic() > deadline:
            raise AssertionError(
                f"only {_sent_emails(emulator_url)} of {count} emails after {timeout:.0f} s: {replayer.stats()}"
            )
        time.sleep(0.1)


if __name__ == "__main__":
    for figure in run():
        print(figure, flush=True)
