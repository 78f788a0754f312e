"""Synthesize OrderCareStack for a small Chalice app that has what app.py does not have yet.

Run by the session fixture in a subprocess (chalice.cdk changes os.environ,
sys.path and the working directory, and caches the `app` module):

    python tests/infra/synth_fixture.py OUTDIR

The app gets two schedules and a stream consumer, and the stage every optional
context value (prod, SES domain, ops e-mail, public URL, SMS spend limit).
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
STACK_NAME = "OrderCare-prod"
STREAM_CONSUMER = "stream_main"

FIXTURE_APP = """
from chalice.app import Chalice

app = Chalice(app_name="ordercare")


@app.route("/health")
def health():
    return {"status": "ok"}


@app.schedule("rate(5 minutes)")
def sweep_sla(event):
    return None


@app.schedule("cron(0 8 * * ? *)")
def dispatch_surveys(event):
    return None


@app.lambda_function(name="stream_main")
def stream_main(event, context):
    return {"batchItemFailures": []}


@app.lambda_function(name="inbound_email")
def inbound_email(event, context):
    return {"results": []}
"""


def write_fixture_app(directory: Path) -> None:
    (directory / ".chalice").mkdir(parents=True)
    (directory / ".chalice" / "config.json").write_text('{"version": "2.0", "app_name": "ordercare"}\n')
    (directory / "requirements.txt").write_text("")
    (directory / "app.py").write_text(FIXTURE_APP)


def main(outdir: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("AWS_DEFAULT_REGION", "eu-central-1")  # for `chalice package`
    # Imported by name so that type-checking tests/ never pulls in aws-cdk-lib (slow, and
    # absent where `make infra-install` has not run).
    cdk: Any = importlib.import_module("aws_cdk")
    stack_class: Any = importlib.import_module("infra.stacks.ordercare_stack").OrderCareStack
    from infra.stacks.config import StageConfig

    config = StageConfig(
        stage="prod",
        ses_domain="shop.example.com",
        ses_sender="orders@shop.example.com",
        ops_email="ops@shop.example.com",
        public_base_url="https://orders.shop.example.com",
        sms_monthly_spend_limit="10",
    )
    assert config.stack_name == STACK_NAME
    app = cdk.App(outdir=os.path.abspath(outdir))
    with tempfile.TemporaryDirectory(prefix="ordercare-fixture-") as scratch:
        source_dir = Path(scratch) / "fixture_app"
        write_fixture_app(source_dir)
        os.chdir(scratch)
        stack_class(
            app,
            config.stack_name,
            config=config,
            source_dir=source_dir,
            stream_consumers={"main": (STREAM_CONSUMER,)},
            env=cdk.Environment(account="123456789012", region="eu-central-1"),
        )
        app.synth()


if __name__ == "__main__":
    main(sys.argv[1])
