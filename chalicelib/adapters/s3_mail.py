"""Inbound mail in S3: raw messages as received, and the attachments cut out of them.

Keys: `inbound/raw/<sha256>.eml` (in AWS, SES writes `inbound/ses/<message id>` itself)
and `inbound/attachments/<order>/<ticket>/<32 random url-safe characters>/<name>`.
Attachments are only ever handed out as presigned links (≤ 300 s), after the API
checked that the caller may see the ticket.
"""

from __future__ import annotations

import secrets
from typing import Any

MAX_URL_SECONDS = 300


class S3MailStore:
    def __init__(self, bucket: str, *, client: Any = None):
        self.bucket = bucket
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            config = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 4})
            self._client = boto3.client("s3", config=config)
        return self._client

    def put_raw(self, key: str, data: bytes) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=key, Body=data, ContentType="message/rfc822", ServerSideEncryption="AES256"
        )

    def get_raw(self, key: str, bucket: str | None = None) -> bytes:
        return bytes(self.client.get_object(Bucket=bucket or self.bucket, Key=key)["Body"].read())

    def put_attachment(self, order_id: str, ticket_id: str, filename: str, content_type: str, data: bytes) -> str:
        safe = "".join(c for c in filename if c.isalnum() or c in "-_.")[:100] or "attachment"
        key = f"inbound/attachments/{order_id}/{ticket_id}/{secrets.token_urlsafe(24)}/{safe}"
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=data,
            ContentType=content_type,
            ContentDisposition=f'attachment; filename="{safe}"',
            ServerSideEncryption="AES256",
        )
        return key

    def presigned_url(self, key: str, *, filename: str, content_type: str, expires_in: int = MAX_URL_SECONDS) -> str:
        if not 0 < expires_in <= MAX_URL_SECONDS:
            raise ValueError(f"presigned attachment links live 1 to {MAX_URL_SECONDS} seconds")
        safe = "".join(c for c in filename if c.isalnum() or c in "-_.") or "attachment"
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": key,
                    "ResponseContentDisposition": f'attachment; filename="{safe}"',
                    "ResponseContentType": content_type,
                },
                ExpiresIn=expires_in,
            )
        )
