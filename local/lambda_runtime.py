"""What the local runtime hands to Lambda handlers besides the event: a context object."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

ACCOUNT_ID = "123456789012"  # the account id moto and the AWS docs use for examples


class LambdaContext:
    """The attributes and method of the Python runtime's context that handlers use."""

    def __init__(
        self,
        function_name: str,
        *,
        region: str = "eu-central-1",
        memory_limit_in_mb: int = 512,
        timeout_ms: int = 60_000,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"
        self.memory_limit_in_mb = memory_limit_in_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{uuid.uuid4().hex}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))

    def __repr__(self) -> str:
        return f"LambdaContext(function_name={self.function_name!r}, request_id={self.aws_request_id!r})"


def iso_z(moment: datetime) -> str:
    """ISO-8601 UTC with a `Z`, whole seconds (as EventBridge and Lambda write times)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")
