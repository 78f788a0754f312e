"""Where the local runtime finds the repository and keeps its runtime files."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def local_dir() -> Path:
    """The git-ignored directory for runtime files (`OC_LOCAL_DIR`, default `.local/`)."""
    configured = os.environ.get("OC_LOCAL_DIR", "").strip()
    path = Path(configured) if configured else REPO_ROOT / ".local"
    path.mkdir(parents=True, exist_ok=True)
    return path
