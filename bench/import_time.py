"""Cold-start cost: `import app` against the frameworks it cannot avoid.

Each import runs in a fresh interpreter; medians of several runs, interleaved so
machine noise hits both sides alike.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = 9
BASELINE = "import chalice, boto3, pynamodb, pydantic; from aws_lambda_powertools import Logger"
APP = "import app"
PROBE = """
import json, sys, time
start = time.perf_counter()
exec({code!r})
elapsed = time.perf_counter() - start
heavy = [m for m in ("fpdf", "jinja2", "holidays", "jwt", "babel") if m in sys.modules]
print(json.dumps({{"seconds": elapsed, "heavy": heavy}}))
"""


def _measure(code: str) -> tuple[float, list[str]]:
    output = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-central-1", "PYTHONDONTWRITEBYTECODE": "1"},
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return float(result["seconds"]), list(result["heavy"])


def run() -> list[str]:
    _measure(APP)  # warm the filesystem cache and .pyc files
    _measure(BASELINE)
    app_times: list[float] = []
    base_times: list[float] = []
    heavy: list[str] = []
    for _ in range(RUNS):
        seconds, heavy = _measure(APP)
        app_times.append(seconds)
        base_times.append(_measure(BASELINE)[0])
    app_ms, base_ms = statistics.median(app_times) * 1000, statistics.median(base_times) * 1000
    return [
        f"import_app_ms: {app_ms:.1f}",
        f"import_baseline_ms: {base_ms:.1f}",
        f"import_ratio: {app_ms / base_ms:.2f} (import app ÷ chalice, boto3, pynamodb, pydantic + Logger; bar <= 1.25)",
        f"import_app_vs_baseline: {app_ms / base_ms:.2f} (bar <= 1.25)",
        f"import_app_heavy_modules_loaded: {','.join(heavy) or 'none'}",
    ]
