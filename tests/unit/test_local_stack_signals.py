"""`make run`'s signal handling: a Ctrl-C or SIGTERM must stop the stack whatever the main thread holds."""

from __future__ import annotations

import signal
import threading

import pytest

from local.stack import LocalStack, StackConfig, StopSignals, _Stop


def test_the_first_signal_stops_and_later_ones_are_only_noted() -> None:
    signals = StopSignals()
    with pytest.raises(_Stop, match="SIGTERM"):
        signals.handle(signal.SIGTERM, None)
    assert signals.received
    signals.handle(signal.SIGINT, None)  # make passes SIGTERM on: no second _Stop mid-shutdown


def test_the_handler_runs_while_the_main_thread_holds_a_lock() -> None:
    # Python runs the handler between two bytecodes of whatever the main thread does; the handler that set
    # a threading.Event blocked for good when that was the Event's own wait, holding its lock.
    held = threading.Lock()
    signals = StopSignals()
    with held, pytest.raises(_Stop):
        signals.handle(signal.SIGINT, None)
    assert signals.received


def test_the_watch_stops_on_a_signal_whose_exception_a_library_swallowed() -> None:
    signals = StopSignals()
    signals.ignore_from_now()  # as after a handler's _Stop that some `except BaseException` ate
    with pytest.raises(_Stop):
        LocalStack(StackConfig()).watch(signals)


def test_once_stopping_a_signal_raises_nothing() -> None:
    signals = StopSignals()
    signals.ignore_from_now()
    signals.handle(signal.SIGTERM, None)
    assert signals.received
