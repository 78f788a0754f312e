"""Powertools Logger, built on first use (its construction reads the environment)."""

from __future__ import annotations

import functools
import logging
from typing import Any

SERVICE = "ordercare"
_RECORD_FIELDS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class Redact(logging.Filter):
    """Masks personal data and credentials in a record before any handler sees it.

    On the logger itself, so the JSON line and any propagated copy (Lambda's root
    handler) are both clean: the message with its arguments, every extra field, and
    the traceback (handed to Powertools as its `exception` field, already masked)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from chalicelib.domain.privacy import mask_credentials, redact

        if isinstance(record.msg, dict):  # Powertools logs a dict message as structured JSON
            record.msg = redact(record.msg)
        else:
            record.msg, record.args = mask_credentials(record.getMessage()), ()
        for name, value in list(vars(record).items()):
            if name not in _RECORD_FIELDS:
                setattr(record, name, redact(value, name))
        if record.exc_info and record.exc_info[0] is not None:
            text = mask_credentials(logging.Formatter().formatException(record.exc_info))
            record.exception, record.exception_name = text, record.exc_info[0].__name__
            record.exc_info, record.exc_text = None, text
        return True


@functools.lru_cache(maxsize=1)
def get_logger() -> Any:
    from aws_lambda_powertools import Logger

    logger = Logger(service=SERVICE)
    logger.addFilter(Redact())
    return logger


def emit_count(name: str, value: int = 1) -> None:
    """One CloudWatch metric (EMF, flushed at once) in the OrderCare namespace, for alarms."""
    from aws_lambda_powertools.metrics import MetricUnit, single_metric

    with single_metric(name=name, unit=MetricUnit.Count, value=value, namespace="OrderCare") as metric:
        metric.add_dimension(name="service", value=SERVICE)
