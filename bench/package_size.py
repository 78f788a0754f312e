"""Lambda package sizes as deployed: `chalice package`'s zips, pruned as infra/stacks/packaging.py prunes them.

Two packages: the API function's (the repository root's Chalice project: the API, the stream
consumers and schedules that render nothing) and the documents function's (staged from
documents/, with fpdf2, Pillow, fontTools, drafthorse, lxml). boto3/botocore are left to the
Lambda runtime (so the sizes are measured without them) and Babel keeps English and German only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BAR_MB = 15.0
TOP = 8  # the API zip's largest top-level entries reported
HEAVY = ("fpdf", "PIL", "fontTools", "lxml", "drafthorse", "pypdf", "saxonche", "facturx")


def _package(project: Path, out: str, package: str) -> tuple[int, int, Counter[str]]:
    """(unpruned, pruned) bytes of the project's zips and the compressed bytes per top-level name."""
    from infra.stacks.packaging import prune_zip

    subprocess.run(
        [str(Path(sys.executable).parent / "chalice"), "package", "--stage", "dev", out],
        cwd=project,
        check=True,
        capture_output=True,
        env={**os.environ, "AWS_DEFAULT_REGION": "eu-central-1"},
    )
    before = after = 0
    tops: Counter[str] = Counter()
    for name in os.listdir(out):
        if name.endswith(".zip"):
            unpruned, pruned = prune_zip(os.path.join(out, name), package)
            before, after = before + unpruned, after + pruned
            with zipfile.ZipFile(os.path.join(out, name)) as archive:
                for info in archive.infolist():
                    top = info.filename.split("/")[0]
                    tops["*.dist-info" if top.endswith(".dist-info") else top] += info.compress_size
    return before, after, tops


def run() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from infra.stacks.packaging import API, DOCUMENTS, stage_documents_project

    with tempfile.TemporaryDirectory() as out:
        api_before, api_after, api_tops = _package(ROOT, os.path.join(out, "api"), API)
        documents = stage_documents_project(ROOT)
        doc_before, doc_after, _ = _package(documents, os.path.join(out, "documents"), DOCUMENTS)
    heavy = sorted(name for name in HEAVY if name in api_tops) or ["none"]
    top = ", ".join(f"{name} {size / 1e6:.2f}" for name, size in api_tops.most_common(TOP))
    return [
        f"package_mb: {api_after / 1e6:.1f} (the API function's zip, pruned as deployed; bar <= {BAR_MB}, aim <= 8)",
        f"package_documents_mb: {doc_after / 1e6:.1f} (the documents function's: fpdf2, Pillow, fontTools, lxml)",
        f"package_api_top_mb: {top} (compressed, by top-level name)",
        f"package_api_heavy_libraries: {', '.join(heavy)}",
        f"package_unpruned_mb: api {api_before / 1e6:.1f}, documents {doc_before / 1e6:.1f}",
    ]
