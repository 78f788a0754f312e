"""The documents function's Chalice app: its own package (documents/), with fpdf2, drafthorse and lxml.

The API package ships without them (QUALITY.md: package size). Invoices, receipts and credit
notes are documents-lane intents, recorded by the main stream consumer with the rest of an
order's change; this app performs them — from the stream (a new documents-lane intent, the
mapping's filter lets nothing else in) and from its own retry schedule — and then sends the
emails of the same orders that wait for them. `documents/app.py` re-exports it for Chalice;
the local runtime hosts it in the same process as app.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalice.app import Chalice, Rate

app = Chalice(app_name="ordercare-documents", configure_logs=False)


@app.lambda_function(name="document_intents")
def document_intents(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Consumer of the table's stream: every new invoice, receipt and credit note, then its emails."""
    from chalicelib.pipeline import process_document_intents

    return process_document_intents(event)


@app.schedule(Rate(5, unit=Rate.MINUTES), name="retry_documents")
def retry_documents(event: Any) -> dict[str, Any]:
    """Finish every document left pending by an outage or a crash (S3 down: stored under its number later)."""
    from chalicelib.bootstrap import get_container
    from chalicelib.services.intents import DOCUMENTS_LANE

    container = get_container()
    moment = getattr(event, "time", None)
    now = datetime.fromisoformat(moment.replace("Z", "+00:00")) if isinstance(moment, str) and moment else None
    return {"intents": container.intents.retry_due(now or container.clock.now(), lane=DOCUMENTS_LANE)}
