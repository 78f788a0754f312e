"""Per-stage settings of the CDK app, read from CDK context (`-c key=value`).

Every key has a default so that `make synth` works offline on a fresh clone;
the ones a real deployment should set are named in the README's deploy section
(`ses_domain`, `ses_sender`, `ops_email`, `public_base_url`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Protocol

from chalicelib.settings import Settings

STAGES = ("dev", "prod")
EXAMPLE_SENDER = "no-reply@example.com"
_DOMAIN_RE = re.compile(r"^(?=.{1,253}$)([a-z0-9-]{1,63}\.)+[a-z]{2,63}$")
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class _Node(Protocol):
    def try_get_context(self, key: str) -> Any: ...


class ConfigError(ValueError):
    """A context value the stack cannot work with."""


@dataclass(frozen=True)
class StageConfig:
    stage: str = "dev"
    shop_country: str = "DE"
    shop_timezone: str = "Europe/Berlin"
    shop_currency: str = "EUR"
    shop_name: str = "OrderCare Demo Shop"
    # The seller printed on invoices: legal name, address lines separated by "|", VAT id.
    seller_name: str = "OrderCare Demo Shop GmbH"
    seller_address: str = ""
    seller_vat_id: str = ""
    # SES: a verified domain (DKIM records to publish) or, without one, the sender address itself.
    ses_domain: str = ""
    ses_sender: str = EXAMPLE_SENDER
    ops_email: str = ""  # subscribed to the ops-alert topic when set
    # Base URL of links the app writes (tracking pages). The API URL cannot be used
    # here without a cycle (the API references its function), so it comes from context.
    public_base_url: str = ""
    sms_monthly_spend_limit: str = ""  # USD; account-wide SNS setting, applied only when set
    sms_sender_id: str = ""  # alphanumeric sender id where the destination country allows one
    cognito_domain_prefix: str = ""  # default: ordercare-<stage>-<account>
    reply_domain: str = ""  # customers' replies (SES receiving, MX record); default reply.<ses_domain>
    lambda_memory_mb: int = 512
    # "true": a failed provider payment also goes out as an `order.on_hold` webhook (the order is unchanged).
    webhook_payment_failed_on_hold: str = "false"
    # Stream mappings: concurrent batches per shard (by item key) and batching window; the
    # defaults are the app's settings (chalicelib/settings.py), which the local replayer uses too.
    stream_parallelization_factor: int = Settings.stream_parallelization_factor
    stream_batching_window_seconds: int = Settings.stream_batching_window_seconds

    @property
    def is_prod(self) -> bool:
        return self.stage == "prod"

    @property
    def stack_name(self) -> str:
        return f"OrderCare-{self.stage}"

    @property
    def log_retention_days(self) -> int:
        return 90 if self.is_prod else 14

    @property
    def ses_identity(self) -> str:
        """The SES identity the app sends from: the domain when given, else the address."""
        return self.ses_domain or self.ses_sender

    def __post_init__(self) -> None:
        if self.stage not in STAGES:
            raise ConfigError(f"stage must be one of {', '.join(STAGES)}, not {self.stage!r}")
        if self.shop_country not in Settings().supported_countries:
            # The package keeps the holiday calendars of the shipping countries only (infra/stacks/packaging.py).
            raise ConfigError(f"shop_country must be one of the shipping countries, not {self.shop_country!r}")
        if self.ses_domain and not _DOMAIN_RE.match(self.ses_domain):
            raise ConfigError(f"ses_domain is not a domain name: {self.ses_domain!r}")
        if not _EMAIL_RE.match(self.ses_sender):
            raise ConfigError(f"ses_sender is not an email address: {self.ses_sender!r}")
        if self.ses_domain and not self.ses_sender.endswith("@" + self.ses_domain):
            raise ConfigError("ses_sender must be an address of ses_domain")
        if self.reply_domain and not _DOMAIN_RE.match(self.reply_domain):
            raise ConfigError(f"reply_domain is not a domain name: {self.reply_domain!r}")
        if self.ops_email and not _EMAIL_RE.match(self.ops_email):
            raise ConfigError(f"ops_email is not an email address: {self.ops_email!r}")
        if self.public_base_url and not self.public_base_url.startswith("https://"):
            raise ConfigError("public_base_url must start with https://")
        if self.webhook_payment_failed_on_hold not in ("true", "false"):
            raise ConfigError("webhook_payment_failed_on_hold must be true or false")
        if not 1 <= self.stream_parallelization_factor <= 10:
            raise ConfigError("stream_parallelization_factor must be between 1 and 10")
        if not 0 <= self.stream_batching_window_seconds <= 300:
            raise ConfigError("stream_batching_window_seconds must be between 0 and 300")
        if self.sms_monthly_spend_limit and not self.sms_monthly_spend_limit.isdigit():
            raise ConfigError("sms_monthly_spend_limit must be a whole number of USD")

    @classmethod
    def from_context(cls, node: _Node) -> StageConfig:
        """Build the configuration from CDK context; unknown keys are ignored."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = node.try_get_context(item.name)
            if raw is None or raw == "":
                continue
            values[item.name] = int(raw) if item.type in (int, "int") else str(raw).strip()
        return cls(**values)
