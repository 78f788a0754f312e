"""Cold-start cost: `import app` against the frameworks it cannot avoid.

Each import runs in a fresh interpreter; medians of several runs, interleaved so
machine noise hits both sides alike.

`import app` defers pydantic and the schemas to the first request that parses a body,
so the cold path is also measured whole: `import app` plus a first POST /v1/orders (a
storefront token, a body that fails validation: every model and the route's parsing
load, no AWS call), against the same baseline. Lambda may run the import before a
request arrives, so that figure says what moved from the init phase to the first request.

And the cold path of a container's first real work: `import app`, a first order placed and
read back, its DynamoDB calls answered by moto's server (started here, provisioned as
`make run` does); with the botocore clients that process built (each new one loads the
service's model: 80–110 ms of CPU).
"""

from __future__ import annotations

import json
import logging
import os
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
# API Gateway events straight into the app (as Lambda hands them over), counting botocore clients built.
CALL = """
import json
from botocore.session import Session
clients = []
create_client = Session.create_client
def counted(self, service, *args, **kwargs):
    clients.append(service)
    return create_client(self, service, *args, **kwargs)
Session.create_client = counted
import app  # after the count starts: a client built at import counts too
def call(method, resource, body, token, params=None, **headers):
    path = resource.format(**(params or {}))
    event = {
        "resource": resource, "path": path, "httpMethod": method,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "api"},
        "headers": {"authorization": "Bearer " + token, "content-type": "application/json", **headers},
        "multiValueHeaders": {}, "pathParameters": params, "multiValueQueryStringParameters": None,
        "stageVariables": None, "body": json.dumps(body) if body else None, "isBase64Encoded": False,
    }
    return app.app(event, None)
"""
SEED = """
answer = call("PUT", "/v1/catalog/{{sku}}", {body!r}, {token!r}, {{"sku": {sku!r}}})
assert answer["statusCode"] in (200, 201), answer
print(json.dumps({{"clients": clients}}))
"""
FIRST_ORDER = """
placed = call("POST", "/v1/orders", {body!r}, {token!r}, **{{"idempotency-key": {key!r}}})
assert placed["statusCode"] == 201, placed
order = json.loads(placed["body"])
read = call("GET", "/v1/orders/{{order_id}}", None, {token!r}, {{"order_id": order["id"]}})
assert read["statusCode"] == 200, read
print(json.dumps({{"clients": clients}}))
"""
PROBE = """
import json, sys, time
start = time.perf_counter()
exec({code!r})
elapsed = time.perf_counter() - start
heavy = [m for m in ("fpdf", "jinja2", "holidays", "jwt", "babel") if m in sys.modules]
print(json.dumps({{"seconds": elapsed, "heavy": heavy}}))
"""


BARE_ENV = {"PATH": "/usr/bin:/bin", "AWS_DEFAULT_REGION": "eu-central-1", "PYTHONDONTWRITEBYTECODE": "1"}


def _measure(code: str, env: dict[str, str] | None = None) -> tuple[float, list[str]]:
    output = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env=env or BARE_ENV,
    ).stdout
    result = json.loads(output.strip().splitlines()[-1])
    return float(result["seconds"]), list(result["heavy"])


def _storefront_token() -> str:
    from chalicelib.api.auth import mint_local_token
    from chalicelib.settings import Settings

    return mint_local_token(Settings(), "storefront", "web")


def _first_orders(base_ms: float) -> list[str]:
    """import app + a first order placed and read back, on moto's server: medians of RUNS."""
    from chalicelib.api.auth import mint_local_token
    from chalicelib.settings import Settings
    from local.processes import free_port
    from local.samples import order_body
    from local.stack import DEMO_CATALOG, StackConfig, app_environment, provision, start_emulator

    port = free_port()
    config = StackConfig(aws_port=port, ddb_port=port)  # DynamoDB on moto's server too
    env = {**app_environment(config, BARE_ENV), "OC_TABLE_NAME": "ordercare-bench-cold"}
    settings = Settings.from_env(env)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's access log
    emulator = start_emulator(config)
    saved = dict(os.environ)
    try:
        os.environ.update(env)  # provision's clients take their credentials from the environment
        provision(config, env)
        item = json.loads(DEMO_CATALOG.read_text())[0]
        _probe(
            SEED.format(
                sku=item["sku"],
                body={k: v for k, v in item.items() if k != "sku"},
                token=mint_local_token(settings, "admin", "bench"),
            ),
            env,
        )
        token = mint_local_token(settings, "storefront", "web")
        times: list[float] = []
        clients: list[str] = []
        for run in range(RUNS + 1):  # the first warms the filesystem cache
            code = FIRST_ORDER.format(body=order_body(), token=token, key=f"cold-{run}")
            seconds, clients = _probe(code, env)
            if run:
                times.append(seconds)
    finally:
        os.environ.clear()
        os.environ.update(saved)
        emulator.stop()
    first_ms = statistics.median(times) * 1000
    return [
        f"cold_first_order_ms: {first_ms:.1f} (import app + a first order placed and read back; DynamoDB on "
        "moto's server)",
        f"cold_first_order_ratio: {first_ms / base_ms:.2f} (the same ÷ the baseline imports)",
        f"cold_first_order_clients: {len(clients)} ({', '.join(clients)}: the botocore clients that process built)",
    ]


def _probe(code: str, env: dict[str, str]) -> tuple[float, list[str]]:
    """Seconds `code` took in a fresh interpreter, and the clients it built (its last line but one)."""
    output = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=CALL + code)], cwd=ROOT, capture_output=True, text=True, env=env
    )
    if output.returncode:
        raise RuntimeError(f"cold-start probe failed: {output.stderr[-2000:]}")
    lines = output.stdout.strip().splitlines()
    return float(json.loads(lines[-1])["seconds"]), list(json.loads(lines[-2])["clients"])


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
        *_first_orders(base_ms),
    ]
