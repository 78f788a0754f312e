"""The outage switch's file is looked at at most twice a second per store, not on every SDK call."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from chalicelib.adapters import faults
from chalicelib.adapters.faults import Fault, FaultStore


def test_a_switch_in_this_process_counts_at_once_another_process_s_within_the_recheck(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "faults.json"
    reader, writer = FaultStore(path), FaultStore(path)
    assert reader.active() == []
    writer.add(Fault("s3", 1.0, "throttle"))
    assert [fault.service for fault in reader.active()] == ["s3"]  # written here: seen at once

    path.write_text("[]", encoding="utf-8")  # `make fault CLEAR=1` in another process
    looks: list[Path] = []
    real_stat = Path.stat

    def stat(self: Path, **kwargs: bool) -> os.stat_result:
        looks.append(self)
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", stat)
    assert [fault.service for fault in reader.active()] == ["s3"]  # within the recheck: no look
    assert looks == []
    later = time.monotonic() + faults.RECHECK_SECONDS
    monkeypatch.setattr(time, "monotonic", lambda: later)
    assert reader.active() == []
    assert looks == [path]
