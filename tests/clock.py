"""One clock for the tiers that run the app in-process: time is frozen, then moved on purpose.

Tests never read the wall clock: the functional and browser tiers start every test at
FROZEN_AT (time then ticks on from there; the functional modules are imported at it too),
and a test that needs a later moment moves the clock there. `make test` runs the unit tier
and canaries of the functional tier a second time under a clock 400 days ahead, so a date
that only works this month fails the day it is written.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import time_machine

# Mon 2026-11-30 09:00 in Berlin: a business day, before the cut-off.
FROZEN_AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)

_travellers: list[time_machine.Traveller] = []


@contextmanager
def frozen(at: datetime = FROZEN_AT, *, tick: bool = True) -> Iterator[time_machine.Traveller]:
    """Stand the clock at `at` (ticking on from there unless `tick=False`)."""
    with time_machine.travel(at, tick=tick) as traveller:
        _travellers.append(traveller)
        try:
            yield traveller
        finally:
            _travellers.pop()


def now() -> datetime:
    return datetime.now(UTC)


def advance_to(moment: datetime | str) -> None:
    """Move the frozen clock forward to `moment`; a moment already past leaves it where it is."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    if not _travellers:
        raise RuntimeError("advance_to() needs a frozen clock (tests.clock.frozen)")
    if moment > now():
        _travellers[-1].move_to(moment)


def stop() -> None:
    """Stop the frozen clock where it is (for checks that are exact to the second on a slow machine)."""
    if not _travellers:
        raise RuntimeError("stop() needs a frozen clock (tests.clock.frozen)")
    _travellers[-1].move_to(now(), tick=False)
