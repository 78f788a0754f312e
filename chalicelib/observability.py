"""Powertools Logger, built on first use (its construction reads the environment)."""

from __future__ import annotations

import functools
from typing import Any

SERVICE = "ordercare"


@functools.lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)
