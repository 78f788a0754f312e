"""Document PDFs in S3: encrypted at rest, keys nobody can guess, short-lived download links.

Keys are `documents/<order id>/<32 random url-safe characters>.pdf`: knowing an
order id (or a document number) is not enough to find its PDF, and links are
only ever handed out presigned, for at most 300 seconds, after the API checked
that the caller may see the order. The boto3 client is built on first use.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import date
from typing import Any

MAX_URL_SECONDS = 300
PDF = "application/pdf"
XML = "application/xml"


class S3DocumentStore:
    def __init__(self, bucket: str, *, kms_key_id: str | None = None, client: Any = None):
        self.bucket = bucket
        self.kms_key_id = kms_key_id or None
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                signature_version="s3v4",
                retries={"mode": "standard", "max_attempts": 4},
                connect_timeout=3,
                read_timeout=10,
            )
            self._client = boto3.client("s3", config=config)
        return self._client

    def encryption(self) -> dict[str, str]:
        """SSE-KMS with the configured key, else SSE-S3."""
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def new_key(self, order_id: str) -> str:
        return f"documents/{order_id}/{secrets.token_urlsafe(24)}.pdf"

    def put_pdf(self, key: str, data: bytes, *, order_id: str, document_id: str, number: str) -> None:
        """Store the PDF (idempotent: the same key always receives the same bytes)."""
        self._put(key, data, PDF, f"{number}.pdf", order_id=order_id, document_id=document_id, number=number)

    def put_xml(self, key: str, data: bytes, *, order_id: str, document_id: str, number: str) -> None:
        """Store an e-invoice's bare CII XML next to its PDF."""
        self._put(key, data, XML, f"{number}.xml", order_id=order_id, document_id=document_id, number=number)

    def _put(
        self, key: str, data: bytes, content_type: str, filename: str, *, order_id: str, document_id: str, number: str
    ) -> None:
        encryption = self.encryption()
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ContentDisposition=f'attachment; filename="{filename}"',
            CacheControl="private, no-store",
            Metadata={"order-id": order_id, "document-id": document_id, "number": number},
            **encryption,
        )

    def get_pdf(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=key)
        return bytes(response["Body"].read())

    def presigned_url(
        self, key: str, *, filename: str, expires_in: int = MAX_URL_SECONDS, content_type: str = PDF
    ) -> str:
        """A GET link valid for `expires_in` seconds (1–300) that downloads as `filename`."""
        if not 0 < expires_in <= MAX_URL_SECONDS:
            raise ValueError(f"presigned document links live 1 to {MAX_URL_SECONDS} seconds")
        safe_name = "".join(char for char in filename if char.isalnum() or char in "-_.") or "document.pdf"
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{safe_name}"',
                    "ResponseContentType": content_type,
                },
                ExpiresIn=expires_in,
            )
        )


class S3ReportArchive(S3DocumentStore):
    """Closed KPI periods, frozen as JSON with a SHA-256, so a quarterly review never changes after the fact."""

    def _key(self, period: str, start: date) -> str:
        return f"reports/kpis/{period}/{start.isoformat()}.json"

    def load(self, period: str, start: date) -> dict[str, Any] | None:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(period, start))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            return None
        frozen: dict[str, Any] = json.loads(body)
        return frozen

    def save(self, period: str, start: date, report: dict[str, Any]) -> None:
        canonical = json.dumps(report, sort_keys=True, separators=(",", ":")).encode()
        document = {**report, "sha256": hashlib.sha256(canonical).hexdigest()}
        encryption = self.encryption()
        self.client.put_object(
            Bucket=self.bucket,
            Key=self._key(period, start),
            Body=json.dumps(document, sort_keys=True).encode(),
            ContentType="application/json",
            **encryption,
        )
