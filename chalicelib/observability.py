"""Powertools Logger, built on first use (its construction reads the environment)."""

from __future__ import annotations

import functools
from typing import Any

SERVICE = "ordercare"


@functools.lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


def emit_count(name: str, value: int = 1) -> None:
    """One CloudWatch metric (EMF, flushed at once) in the OrderCare namespace, for alarms."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace="OrderCare") as metric:
        metric.add_dimension(name="service", value=SERVICE)
