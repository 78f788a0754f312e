"""Lambda package size as deployed: requirements + app code, pruned like infra/stacks/packaging.py.

Installs requirements.txt for the Lambda platform (manylinux, CPython 3.11) into a
temporary directory, zips it with app.py and chalicelib/, and applies the same
pruning rules the CDK stack applies to `chalice package`'s output.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAR_MB = 15.0


def _zip_size(directory: Path, keep: object) -> int:
    handle, path = tempfile.mkstemp(suffix=".zip")
    os.close(handle)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(directory.rglob("*")):
            name = file.relative_to(directory).as_posix()
            if file.is_file() and "__pycache__" not in name and keep(name):  # type: ignore[operator]
                archive.write(file, name)
    size = os.path.getsize(path)
    os.remove(path)
    return size


def run() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from infra.stacks.packaging import dropped

    with tempfile.TemporaryDirectory() as temporary:
        target = Path(temporary) / "package"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--target",
                str(target),
                "--platform",
                "manylinux2014_x86_64",
                "--implementation",
                "cp",
                "--python-version",
                "3.11",
                "--only-binary=:all:",
                "-r",
                str(ROOT / "requirements.txt"),
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(["cp", "-r", str(ROOT / "chalicelib"), str(ROOT / "app.py"), str(target)], check=True)
        everything = _zip_size(target, lambda name: True)
        deployed = _zip_size(target, lambda name: not dropped(name))
    return [
        f"package_zip_mb: {deployed / 1e6:.1f} (bar <= {BAR_MB}; boto3/botocore from the runtime, "
        "Babel locales en/de/root)",
        f"package_zip_unpruned_mb: {everything / 1e6:.1f}",
    ]
