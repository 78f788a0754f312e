"""Lambda package size as deployed: `chalice package`'s zip, pruned as infra/stacks/packaging.py prunes it.

boto3/botocore are left to the Lambda runtime (so the size is measured without them)
and Babel keeps English and German data only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAR_MB = 15.0


def run() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from infra.stacks.packaging import prune_zip

    with tempfile.TemporaryDirectory() as out:
        subprocess.run(
            [str(Path(sys.executable).parent / "chalice"), "package", "--stage", "dev", out],
            cwd=ROOT,
            check=True,
            capture_output=True,
            env={**os.environ, "AWS_DEFAULT_REGION": "eu-central-1"},
        )
        before = after = 0
        for name in os.listdir(out):
            if name.endswith(".zip"):
                unpruned, pruned = prune_zip(os.path.join(out, name))
                before, after = before + unpruned, after + pruned
    return [
        f"package_zip_mb: {after / 1e6:.1f} (chalice package, pruned as deployed; bar <= {BAR_MB})",
        f"package_zip_unpruned_mb: {before / 1e6:.1f}",
    ]
