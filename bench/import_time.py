"""Cold-start cost: `import app` against the frameworks it cannot avoid.

Each import runs in a fresh interpreter; medians of several runs, interleaved so
machine noise hits both sides alike.

`import app` defers pydantic and the schemas to the first request that parses a body,
so the cold path is also measured whole: `import app` plus a first POST /v1/orders (a
storefront token, a body that fails validation: every model and the route's parsing
load, no AWS call), against the same baseline. Lambda may run the import before a
request arrives, so that figure says what moved from the init phase to the first request.
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
FIRST_REQUEST = """
import app, json
event = {{
    "resource": "/v1/orders", "path": "/v1/orders", "httpMethod": "POST",
    "requestContext": {{"resourcePath": "/v1/orders", "httpMethod": "POST", "stage": "api"}},
    "headers": {{"authorization": "Bearer {token}", "content-type": "application/json", "idempotency-key": "cold-1"}},
    "multiValueHeaders": {{}}, "pathParameters": None, "multiValueQueryStringParameters": None,
    "stageVariables": None, "body": json.dumps({{"customer": {{}}}}), "isBase64Encoded": False,
}}
answer = app.app(event, None)
assert answer["statusCode"] == 422, answer
"""
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


def _storefront_token() -> str:
    from chalicelib.api.auth import mint_local_token
    from chalicelib.settings import Settings

    return mint_local_token(Settings(), "storefront", "web")


def run() -> list[str]:
    first_request = FIRST_REQUEST.format(token=_storefront_token())
    # Bytecode for our modules as the baseline's libraries have theirs (the probes write none: a fresh
    # checkout would otherwise time compiling), then a warm filesystem cache.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "app.py", "chalicelib"], cwd=ROOT, check=True)
    for code in (APP, BASELINE, first_request):
        _measure(code)
    app_times: list[float] = []
    base_times: list[float] = []
    first_times: list[float] = []
    heavy: list[str] = []
    for _ in range(RUNS):
        seconds, heavy = _measure(APP)
        app_times.append(seconds)
        base_times.append(_measure(BASELINE)[0])
        first_times.append(_measure(first_request)[0])
    app_ms, base_ms = statistics.median(app_times) * 1000, statistics.median(base_times) * 1000
    first_ms = statistics.median(first_times) * 1000
    return [
        f"import_app_ms: {app_ms:.1f}",
        f"import_baseline_ms: {base_ms:.1f}",
        f"import_ratio: {app_ms / base_ms:.2f} (import app ÷ chalice, boto3, pynamodb, pydantic + Logger; bar <= 1.25)",
        f"import_app_vs_baseline: {app_ms / base_ms:.2f} (bar <= 1.25)",
        f"import_app_heavy_modules_loaded: {','.join(heavy) or 'none'}",
        f"cold_first_request_ms: {first_ms:.1f} (import app + a first POST /v1/orders that fails validation)",
        f"cold_first_request_ratio: {first_ms / base_ms:.2f} (the same ÷ the baseline imports)",
    ]
