"""Which Lambda functions consume which stream, shared by CDK and the local runtime.

Stream consumers are plain `@app.lambda_function`s (README.md, "Architecture");
this table is the single source of truth for their wiring. Keys are logical
table names ("main" is the OrderCare table); values are function names in app.py.
"""

from __future__ import annotations

STREAM_CONSUMERS: dict[str, tuple[str, ...]] = {
    "main": ("order_events",),
}
