"""CDK entry point (`cdk synth -c stage=dev` from infra/, or `make synth STAGE=dev`).

Runs from any working directory: the repository root (the Chalice project) is
found from this file. `chalice package` runs inside the synth (twice: the main app and the
documents app, staged from documents/) and writes its scratch files to a temporary directory
that is removed afterwards.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REGION = "eu-central-1"


def main() -> None:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import aws_cdk as cdk

    from infra.stacks.config import StageConfig
    from infra.stacks.ordercare_stack import OrderCareStack
    from infra.stacks.packaging import stage_documents_project

    account = os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = os.environ.get("CDK_DEFAULT_REGION")
    # `chalice package` resolves service principals through botocore, which wants a region.
    os.environ.setdefault("AWS_DEFAULT_REGION", region or DEFAULT_REGION)
    app = cdk.App(outdir=os.path.abspath(os.environ.get("CDK_OUTDIR", "cdk.out")))
    config = StageConfig.from_context(app.node)
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="ordercare-chalice-") as scratch:
        os.chdir(scratch)  # chalice.cdk writes chalice.out/ into the working directory
        try:
            OrderCareStack(
                app,
                config.stack_name,
                config=config,
                source_dir=ROOT,
                # The documents function's Chalice project: documents/ with chalicelib/ and both requirements.
                documents_source_dir=stage_documents_project(ROOT),
                env=cdk.Environment(account=account, region=region),
            )
            app.synth()
        finally:
            os.chdir(here)


if __name__ == "__main__":
    main()
