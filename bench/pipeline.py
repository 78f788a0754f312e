"""Full order lifecycle through the local stack's real pieces: throughput and stream-processing lag.

DynamoDB Local (its real stream), moto's server in this process for SES/SESv2/SNS/S3
(started and provisioned exactly as `make run` does: local/stack.py), and the stream
replayer delivering the table's stream to app.order_events with the stack's polling
defaults. N orders go place -> pay -> processing -> ship -> carrier "delivered" through
the service layer (DRIVERS threads, as concurrent API requests would), each change
producing its email (confirmation, receipt, shipped, delivered).

* lifecycle_orders_per_s: N ÷ (first write -> last notification sent), on a warm stack: a
  first burst of 50 orders just before (lifecycle_orders_per_s_cold and the other `_cold`
  figures) finds DynamoDB Local's JVM fresh, its JIT compiling the hot paths meanwhile;
* lifecycle_cpu_ms_per_order: CPU seconds of the API process (the drivers), of this process
  (stream consumers, moto) and of the JVM (its JIT split out) over the burst, per order: the
  figure that caps throughput on 2 cores;
* stream_lag_burst_p50/p95_ms: for every milestone of the burst, the order change's
  write (the service call returned) -> its `notification_sent` timeline entry's `at`
  (taken just before the SES call; the machine's wall clock, read by the API process and the consumer);
* stream_lag_p50/p95_ms: the same at quiet times (orders one at a time, half the burst rate).

N is 50 (`OC_BENCH_LIFECYCLE_ORDERS=1000` for a long burst). The replayer runs with
the settings' ParallelizationFactor and batching window, as the mappings in AWS do.
Emails are counted in moto's backend (this process), not through its HTTP API: a
poll of /moto-api/data.json serialises every message sent so far, and at the burst's
end that costs more CPU than the pipeline being measured.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ORDERS = int(os.environ.get("OC_BENCH_LIFECYCLE_ORDERS", "50"))
COLD = min(ORDERS, 50)  # the burst that warms the JVM up: the bar's 50 orders, also before a long run
DRIVERS = 4
PACED = 20
TABLE = "ordercare-bench-pipeline"
MILESTONES = ("order_confirmation", "payment_receipt", "shipped", "delivered")


def _api_process() -> None:
    """The API process's stdout is its stderr: only the figures go to `make bench`'s stdout (bench/__main__.py)."""
    import sys

    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())


def _drive(first: int, count: int, threads: int) -> tuple[list[dict[str, Any]], float]:
    """In the API process: `count` lifecycles from `threads` threads; when each change was written, and
    the CPU seconds this process spent on them."""
    from chalicelib.bootstrap import get_container

    container = get_container()
    cpu = time.process_time()
    with ThreadPoolExecutor(threads) as pool:
        placed = list(pool.map(lambda n: _lifecycle(container, n), range(first, first + count)))
    return placed, time.process_time() - cpu


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
    from local.stack import DROPPED_ENV, StackConfig, app_environment, provision, start_emulator
    from local.streams import StreamReplayer, consumers_from_app

    config = StackConfig(api_port=free_port(), ddb_port=free_port(), aws_port=free_port())
    with _environment():
        os.environ.update(app_environment(config, os.environ))
        for name in DROPPED_ENV:
            os.environ.pop(name, None)
        os.environ["OC_TABLE_NAME"] = TABLE
        reset_container()
        ddb = DynamoDBLocal(config.ddb_port, startup_timeout=90).start()
        emulator = start_emulator(config)
        replayer: StreamReplayer | None = None
        api: ProcessPoolExecutor | None = None
        try:
            provision(config, dict(os.environ))
            import app

            container = get_container()
            settings = Settings.from_env(os.environ)
            container.catalog.upsert(CatalogItem("MUG-1", "Mug", 1299, "EUR", 10**6, 1900))
            # The API process: spawned now, so it starts with this environment (the stack's endpoints, the table).
            api = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_api_process)
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
            api.submit(_drive, -1, 1, 1).result()
            sent = len(MILESTONES)
            _wait_for_emails(config.emulator_url, sent, replayer)

            # 1. Throughput: a burst of ORDERS lifecycles from DRIVERS threads, twice. The first finds
            # DynamoDB Local's JVM cold (its JIT compiles the hot paths during it, as a fresh `make run`
            # does); the second is the sale on a running stack, as DynamoDB and warm Lambdas serve it.
            cold, sent = _burst(api, ddb.pid, config.emulator_url, replayer, sent, COLD, 0)
            warm, sent = _burst(api, ddb.pid, config.emulator_url, replayer, sent, ORDERS, COLD)
            throughput = warm.throughput

            # 2. Lag: orders arriving one at a time at half that rate, as a pipeline that keeps up sees them.
            interval = 2 / throughput
            paced: list[dict[str, Any]] = []
            for n in range(PACED):
                tick = time.monotonic()
                paced += api.submit(_drive, COLD + ORDERS + n, 1, 1).result()[0]
                time.sleep(max(0.0, interval - (time.monotonic() - tick)))
            sent += len(MILESTONES) * PACED
            _drain(config.emulator_url, sent, replayer)
            lags, _ = _lags(paced)
            if replayer.failures:
                raise AssertionError(f"{len(replayer.failures)} stream batches went to the failure destination")
            stream = replayer.stats()["order_events"]
        finally:
            if api is not None:
                api.shutdown()
            if replayer is not None:
                replayer.stop()
            emulator.stop()
            ddb.stop()
            reset_container()

    load = f"{ORDERS} orders x {len(MILESTONES)} emails from {DRIVERS} threads of an API process at once"
    pace = f"{PACED} orders, one every {interval:.2f} s (half the burst rate), replayer polling every 0.2 s"
    lanes = (
        f"ParallelizationFactor {settings.stream_parallelization_factor}, "
        f"batching window {settings.stream_batching_window_seconds} s"
    )
    return [
        f"lifecycle_orders_per_s: {warm.throughput:.1f} ({load}, a warm stack: {warm.elapsed:.1f} s to the last "
        f"email; {lanes})",
        f"lifecycle_orders_per_s_cold: {cold.throughput:.1f} ({cold.orders} orders the same way just before, "
        f"DynamoDB Local's JVM fresh: {cold.elapsed:.1f} s)",
        warm.cpu_line("lifecycle_cpu_ms_per_order"),
        cold.cpu_line("lifecycle_cpu_ms_per_order_cold"),
        f"stream_lag_burst_p50_ms: {statistics.median(warm.lags):.0f} (the warm burst: order change written -> "
        f"its email sent; cold {statistics.median(cold.lags):.0f})",
        f"stream_lag_burst_p95_ms: {_percentile(warm.lags, 0.95):.0f} (max {max(warm.lags):.0f}, "
        f"{len(warm.lags)} milestones; cold p95 {_percentile(cold.lags, 0.95):.0f})",
        f"stream_lag_p50_ms: {statistics.median(lags):.0f} (quiet times: order change written -> its email sent; "
        f"{pace})",
        f"stream_lag_p95_ms: {_percentile(lags, 0.95):.0f} (max {max(lags):.0f}, {len(lags)} milestones)",
        _filter_line(stream),
    ]


@dataclass(frozen=True)
class _Burst:
    """One measured burst: its throughput, lags and the CPU it cost (this process, the JVM, its JIT)."""

    orders: int
    elapsed: float
    lags: list[float]
    api_s: float
    python_s: float
    ddb_s: float
    jit_s: float

    @property
    def throughput(self) -> float:
        return self.orders / self.elapsed

    def cpu_line(self, name: str) -> str:
        api_ms, python_ms, ddb_ms, jit_ms = (
            1000 * seconds / self.orders for seconds in (self.api_s, self.python_s, self.ddb_s, self.jit_s)
        )
        return (
            f"{name}: {api_ms + python_ms + ddb_ms:.0f} (CPU the burst cost per order, whatever else runs on the "
            f"machine: the API process — the drivers — {api_ms:.0f}, this one — stream consumers, moto — "
            f"{python_ms:.0f}, DynamoDB Local {ddb_ms:.0f} of which its JIT compiler {jit_ms:.0f}; load average "
            f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)"
        )


def _burst(
    api: ProcessPoolExecutor, ddb_pid: int | None, emulator_url: str, replayer: Any, sent: int, orders: int, first: int
) -> tuple[_Burst, int]:
    """`orders` lifecycles from DRIVERS threads at once in the API process, drained; the figures and the
    emails sent by then."""
    started = datetime.now(UTC)
    cpu = _cpu_seconds(ddb_pid)
    placed, api_s = api.submit(_drive, first, orders, DRIVERS).result()
    sent += len(MILESTONES) * orders
    _drain(emulator_url, sent, replayer)
    python_s, ddb_s, jit_s = (after - before for before, after in zip(cpu, _cpu_seconds(ddb_pid), strict=True))
    lags, last_sent = _lags(placed)
    return _Burst(orders, (last_sent - started).total_seconds(), lags, api_s, python_s, ddb_s, jit_s), sent


def _cpu_seconds(ddb_pid: int | None) -> tuple[float, float, float]:
    """CPU seconds used so far by this process, by DynamoDB Local (its JVM, from /proc) and by the JVM's
    JIT compiler threads (C1/C2: work a warm JVM no longer does)."""
    ddb = jit = 0.0
    if ddb_pid is not None:
        ticks = os.sysconf("SC_CLK_TCK")
        ddb = _ticks(Path(f"/proc/{ddb_pid}/stat")) / ticks
        for task in Path(f"/proc/{ddb_pid}/task").glob("*"):
            try:
                name = (task / "comm").read_text()
            except OSError:
                continue
            if "CompilerThre" in name:
                jit += _ticks(task / "stat") / ticks
    return time.process_time(), ddb, jit


def _ticks(stat: Path) -> int:
    """utime + stime of a /proc stat file (0 once the process or thread is gone)."""
    try:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return 0


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
