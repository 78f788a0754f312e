"""Ten seconds of `make load` (bench/load.py) against a stack of its own: mixed traffic, no errors."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.timeout(300)


def test_ten_seconds_of_mixed_traffic_answer_without_an_error() -> None:
    from bench.load import run

    # A thread of its own: the load's asyncio.run() needs a thread with no event loop running, and in a
    # full run Playwright's sync API (the browser tier's session browser) keeps one in the main thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        lines = pool.submit(run, seconds=10, users=4).result()
    figures = dict(line.split(": ", 1) for line in lines)
    assert figures["load_errors"] == "0", "\n".join(lines)
    routes = [line for line in lines if line.startswith("load_ms[") and not line.startswith("load_ms[all]")]
    assert len(routes) >= 12, lines  # reads, placements, payments, shipments, webhooks, portal and tracking pages
    assert int(figures["load_requests"]) > 12
