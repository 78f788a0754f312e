"""Outage drills on the local stack."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chalicelib.api.schemas.common import (
    Out,
    Strict,
)


class FaultIn(Strict):
    """An outage drill (local stack only): this share of the matching AWS calls fails from now on."""

    service: Literal["s3", "ses", "sesv2", "sns", "dynamodb"]
    operations: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,64}$")]] | None = Field(
        default=None, max_length=50, description="AWS operation names (e.g. SendEmail); none: every call"
    )
    ratio: Annotated[float, Field(ge=0.0, le=1.0)] = 1.0
    error: Literal["throttle", "server", "timeout"] = "server"


class FaultOut(Out):
    id: str = Field(examples=["flt_1a2b3c4d"])
    service: str
    operations: list[str]
    ratio: float
    error: str
    description: str


class FaultsOut(Out):
    items: list[FaultOut]


class FaultsCleared(Out):
    cleared: int
