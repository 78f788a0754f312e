"""Email through SES (v2, raw MIME: HTML + text + attachments) and SMS through SNS.

Throttling and transient errors are retried by botocore's standard retry mode
(exponential backoff with jitter); what still fails is reported as transient,
errors about the message or address itself as permanent.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from chalicelib.services.ports import PermanentDeliveryError, TransientDeliveryError

# Provider error codes that no retry will fix.
PERMANENT_CODES = frozenset(
    {
        "MessageRejected",
        "MailFromDomainNotVerifiedException",
        "BadRequestException",
        "InvalidParameter",
        "InvalidParameterValue",
        "ValidationError",
        "OptedOut",
        "NotFoundException",
    }
)


def _client(service: str, client: Any | None) -> Any:
    if client is not None:
        return client
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 4}, connect_timeout=3, read_timeout=10)
    return boto3.client(service, config=config)


def _classify(error: Exception) -> Exception:
    from botocore.exceptions import ClientError

    if isinstance(error, ClientError):
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code in PERMANENT_CODES:
            return PermanentDeliveryError(f"{code}: {message}")
        return TransientDeliveryError(f"{code}: {message}")
    return TransientDeliveryError(f"{type(error).__name__}: {error}")


def build_mime(
    sender: str, sender_name: str, to: str, payload: dict[str, Any], load: Callable[[str], bytes] | None = None
) -> bytes:
    """The raw MIME message: text and HTML alternatives, attachments.

    No List-Unsubscribe: every message sent is transactional (notify/milestones.py)."""
    message = EmailMessage()
    message["From"] = formataddr((sender_name, sender))
    message["To"] = to
    message["Subject"] = payload["subject"]
    message["Message-ID"] = payload.get("message_id") or make_msgid(domain=sender.partition("@")[2] or None)
    if payload.get("reply_to"):  # the order's signed reply address: answers land on its ticket
        message["Reply-To"] = payload["reply_to"]
    if payload.get("in_reply_to"):
        message["In-Reply-To"] = payload["in_reply_to"]
    if payload.get("references"):
        message["References"] = " ".join(payload["references"])
    if payload.get("auto_submitted"):
        message["Auto-Submitted"] = payload["auto_submitted"]
    message.set_content(payload["text"])
    message.add_alternative(payload["html"], subtype="html")
    for attachment in payload.get("attachments", []):
        maintype, _, subtype = attachment["content_type"].partition("/")
        # Documents travel as S3 keys in the stored payload (items stay small) and are read at send time.
        if "s3_key" in attachment and load is not None:
            data = load(attachment["s3_key"])
        else:
            data = base64.b64decode(attachment["data"])
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=attachment["filename"])
    return message.as_bytes()


class SesMailer:
    def __init__(
        self,
        sender: str,
        sender_name: str,
        configuration_set: str | None = None,
        client: Any = None,
        attachment_loader: Callable[[str], bytes] | None = None,
    ):
        self.attachment_loader = attachment_loader
        self.sender = sender
        self.sender_name = sender_name
        self.configuration_set = configuration_set
        self._client = client

    @property
    def client(self) -> Any:
        self._client = _client("sesv2", self._client)
        return self._client

    def send(self, to: str, payload: dict[str, Any]) -> str:
        request: dict[str, Any] = {
            "FromEmailAddress": self.sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {
                "Raw": {"Data": build_mime(self.sender, self.sender_name, to, payload, self.attachment_loader)}
            },
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        try:
            return str(self.client.send_email(**request)["MessageId"])
        except Exception as error:
            raise _classify(error) from error


class SnsSms:
    def __init__(self, sender_id: str | None = None, client: Any = None):
        self.sender_id = sender_id
        self._client = client

    @property
    def client(self) -> Any:
        self._client = _client("sns", self._client)
        return self._client

    def send(self, phone: str, body: str) -> str:
        attributes = {"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}
        if self.sender_id:
            attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": self.sender_id}
        try:
            return str(self.client.publish(PhoneNumber=phone, Message=body, MessageAttributes=attributes)["MessageId"])
        except Exception as error:
            raise _classify(error) from error


class SnsTopic:
    """Publishes operations alerts to an SNS topic."""

    def __init__(self, client: Any = None):
        self._client = client

    @property
    def client(self) -> Any:
        self._client = _client("sns", self._client)
        return self._client

    def publish(self, topic_arn: str, subject: str, message: str) -> str:
        try:
            return str(self.client.publish(TopicArn=topic_arn, Subject=subject[:100], Message=message)["MessageId"])
        except Exception as error:
            raise _classify(error) from error
