"""The one place that reads the environment.

Everything configurable lives in `Settings`, a frozen dataclass built once per
container by `get_settings()`. Local defaults describe the demo shop (Germany,
Berlin time, EUR); in AWS the CDK stack sets every variable explicitly.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _flag(value: str) -> bool:
    """A yes/no setting ("true"/"false", "1"/"0", "on"/"off"); anything else refuses to start."""
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("", "0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _targets(text: str) -> tuple[tuple[str, float], ...]:
    """ "csat=0.9,shipped_on_time=0.97" → (("csat", 0.9), ("shipped_on_time", 0.97))."""
    pairs = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, value = part.partition("=")
        pairs.append((name.strip(), float(value)))
    return tuple(pairs)


def _transit_days(value: str) -> dict[str, int]:
    """Parse "standard=3,express=1" into {"standard": 3, "express": 1}."""
    result: dict[str, int] = {}
    for part in _csv(value):
        method, _, days = part.partition("=")
        result[method.strip()] = int(days)
    return result


def _zero_rate_category(value: str, reason: str) -> str:
    """ "Z" or "E"; exempt supplies need the exemption reason on every document (BR-E-10)."""
    category = value.strip().upper()
    if category not in ("Z", "E"):
        raise ValueError("OC_ZERO_RATE_CATEGORY must be Z (zero rated) or E (exempt)")
    if category == "E" and not reason.strip():
        raise ValueError("OC_ZERO_RATE_CATEGORY=E needs OC_VAT_EXEMPTION_REASON")
    return category


def _lines(value: str) -> tuple[str, ...]:
    """Parse "Musterstraße 1|10115 Berlin|Germany" into its address lines."""
    return tuple(part.strip() for part in value.split("|") if part.strip())


def _bounded(name: str, raw: str, default: object, low: int, high: int) -> int:
    """OC_<name> as a whole number within [low, high] (the default when unset)."""
    if not raw.strip():
        return int(getattr(default, name.lower()))
    value = int(raw)
    if not low <= value <= high:
        raise ValueError(f"OC_{name} must be between {low} and {high}, not {value}")
    return value


PAPER_SIZES = ("A4", "Letter")


def _paper_size(value: str) -> str:
    for size in PAPER_SIZES:
        if value.strip().lower() == size.lower():
            return size
    raise ValueError(f"OC_PAPER_SIZE must be one of {', '.join(PAPER_SIZES)}, not {value!r}")


LOCAL_JWT_SECRET = "ordercare-local-dev-signing-key-not-for-production"  # noqa: S105 - documented local default # nosec B105


@dataclass(frozen=True)
class Settings:
    environment: str = "local"  # "local" or "aws"
    table_name: str = "ordercare-local"
    documents_bucket: str = "ordercare-local-documents"
    region: str = "eu-central-1"

    shop_country: str = "DE"
    shop_timezone: str = "Europe/Berlin"
    shop_currency: str = "EUR"
    cutoff_hour: int = 14
    handling_business_days: int = 2
    stall_business_days: int = 3  # a shipped parcel with no carrier scan for this long is flagged stalled
    transit_business_days: dict[str, int] = field(default_factory=lambda: {"standard": 3, "express": 1})
    supported_countries: tuple[str, ...] = (
        "AT",
        "BE",
        "BG",
        "CH",
        "CY",
        "CZ",
        "DE",
        "DK",
        "EE",
        "ES",
        "FI",
        "FR",
        "GB",
        "GR",
        "HR",
        "HU",
        "IE",
        "IT",
        "LT",
        "LU",
        "LV",
        "MT",
        "NL",
        "NO",
        "PL",
        "PT",
        "RO",
        "SE",
        "SI",
        "SK",
    )

    # Tokens: locally HS256 with a dev secret; in AWS RS256 from Cognito's JWKS.
    jwt_secret: str = LOCAL_JWT_SECRET
    jwt_issuer: str = "ordercare-local"
    jwt_audience: str = ""  # Cognito app client ids accepted (comma separated) when set
    cognito_jwks_url: str = ""
    storefront_client_ids: tuple[str, ...] = ()

    # Webhook secrets: comma-separated lists, the first is current, the rest still accepted.
    carrier_webhook_secrets: tuple[str, ...] = ("local-carrier-webhook-secret",)
    payment_webhook_secrets: tuple[str, ...] = ("local-payment-webhook-secret",)
    # Real providers, verified their own way (Stripe-Signature; aftership-hmac-sha256).
    stripe_webhook_secrets: tuple[str, ...] = ("whsec_local_stripe_webhook_secret",)
    aftership_webhook_secrets: tuple[str, ...] = ("local-aftership-webhook-secret",)
    link_secrets: tuple[str, ...] = ("ordercare-local-link-secret",)  # first signs, all verify
    public_base_url: str = "http://127.0.0.1:8000"
    tracking_link_days: int = 180  # tracking links stay valid this long after they are issued

    # Notifications.
    shop_name: str = "OrderCare Demo Shop"
    sender_email: str = "orders@ordercare.local"
    ses_configuration_set: str = ""
    sms_sender_id: str = ""
    sms_daily_cap: int = 5
    effects_give_up_hours: int = 24  # transient failures of an effect are retried this long
    sms_inbound_secrets: tuple[str, ...] = ("local-sms-inbound-secret",)
    sms_inbound_topic_arns: tuple[str, ...] = ()  # SNS topics replies arrive on (AWS); none: SNS refused
    local_emulator_url: str = ""  # the local stack's moto server (outbox); empty in AWS
    ops_email: str = "ops@ordercare.local"
    ops_topic_arn: str = "arn:aws:sns:eu-central-1:123456789012:ordercare-local-ops"
    idempotency_ttl_hours: int = 24
    return_window_days: int = 30  # returns may be requested this long after delivery
    return_receipt_days: int = 30  # an approved return expires when not received within this
    webhook_timeout_seconds: float = 5.0  # one outbound webhook attempt, connect to last byte
    # A provider's failed payment attempt (Stripe payment_intent.payment_failed) also goes out as an
    # `order.on_hold` event with `reason: payment_failed`; off by default: the order is not on hold.
    webhook_payment_failed_on_hold: bool = False
    # Stream consumers (the event source mappings in infra/, the replayer in local/): concurrent
    # batches per shard, partitioned by item key so one order's changes stay in order (1-10),
    # and how long a batch may wait to fill (0-300 s; 0: invoke on whatever arrived).
    stream_parallelization_factor: int = 4
    stream_batching_window_seconds: int = 0
    max_body_bytes: int = 64 * 1024

    # Documents (invoices, receipts, credit notes): the seller as printed, paper, number series.
    seller_name: str = "OrderCare Demo Shop GmbH"
    seller_address: tuple[str, ...] = ("Musterstraße 1", "10115 Berlin", "Germany")  # OC_SELLER_ADDRESS: "|"-separated
    seller_vat_id: str = "DE123456789"
    seller_email: str = "billing@ordercare.local"  # also the seller's electronic address (BT-34) in e-invoices
    # The seller's address as the e-invoice states it (BG-5), and its tax situation.
    seller_street: str = "Musterstraße 1"
    seller_postal_code: str = "10115"
    seller_city: str = "Berlin"
    seller_country: str = "DE"
    seller_iban: str = ""  # BT-84, stated for bank-transfer payments
    zero_rate_category: str = "Z"  # 0 % lines: "Z" zero rated or "E" exempt (then a reason is required)
    vat_exemption_reason: str = ""  # BT-120 with "E", e.g. "Steuerfreie Umsätze nach § 4 Nr. 8 UStG"
    vat_exemption_code: str = ""  # BT-121 with "E", e.g. "VATEX-EU-132"
    paper_size: str = "A4"  # "A4" or "Letter"
    invoice_prefix: str = "INV"
    credit_note_prefix: str = "CN"
    receipt_prefix: str = "RCT"
    documents_kms_key_id: str = ""  # empty: SSE-S3 (AES256); else SSE-KMS with this key

    # Support: ticket clocks (calendar hours), email replies, the agents' desk.
    ticket_acknowledge_hours: int = 24
    ticket_resolve_hours: int = 48
    reply_domain: str = "reply.ordercare.local"  # Reply-To: reply+<signed token>@<reply domain>
    inbound_bucket: str = ""  # raw inbound mail and attachments; empty: the documents bucket
    inbound_tickets_per_sender_hour: int = 5
    cognito_domain: str = ""  # hosted UI for staff sign-in, e.g. https://ordercare.auth.eu-central-1.amazoncognito.com
    desk_client_id: str = ""  # the Cognito app client of the desk (authorization code + PKCE)

    @property
    def inbound_bucket_name(self) -> str:
        return self.inbound_bucket or self.documents_bucket

    # Surveys and KPIs.
    survey_delivery_delay_hours: int = 72  # the delivery survey goes out 3 days after delivery
    survey_support_delay_hours: int = 24
    survey_throttle_days: int = 30  # at most one survey per customer in this window
    survey_token_days: int = 30
    kpi_targets: tuple[tuple[str, float], ...] = ()  # OC_KPI_TARGETS="csat=0.9,shipped_on_time=0.97"

    @property
    def is_local(self) -> bool:
        return self.environment == "local"

    @classmethod
    def from_env(cls, env: dict[str, str] | os._Environ[str] | None = None) -> Settings:
        """Build settings from environment variables, falling back to local defaults."""
        env = os.environ if env is None else env
        default = cls()

        def get(name: str, fallback: str) -> str:
            return env.get(f"OC_{name}", fallback)

        return cls(
            environment=get("ENVIRONMENT", default.environment),
            table_name=get("TABLE_NAME", default.table_name),
            documents_bucket=get("DOCUMENTS_BUCKET", default.documents_bucket),
            region=env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", default.region)),
            shop_country=get("SHOP_COUNTRY", default.shop_country),
            shop_timezone=get("SHOP_TIMEZONE", default.shop_timezone),
            shop_currency=get("SHOP_CURRENCY", default.shop_currency),
            cutoff_hour=int(get("CUTOFF_HOUR", str(default.cutoff_hour))),
            handling_business_days=int(get("HANDLING_BUSINESS_DAYS", str(default.handling_business_days))),
            stall_business_days=max(1, int(get("STALL_BUSINESS_DAYS", str(default.stall_business_days)))),
            transit_business_days=_transit_days(get("TRANSIT_BUSINESS_DAYS", "standard=3,express=1")),
            supported_countries=_csv(get("SUPPORTED_COUNTRIES", ",".join(default.supported_countries))),
            jwt_secret=get("JWT_SECRET", default.jwt_secret),
            jwt_issuer=get("JWT_ISSUER", default.jwt_issuer),
            jwt_audience=get("JWT_AUDIENCE", default.jwt_audience),
            cognito_jwks_url=get("COGNITO_JWKS_URL", default.cognito_jwks_url),
            storefront_client_ids=_csv(get("STOREFRONT_CLIENT_IDS", "")),
            carrier_webhook_secrets=_csv(env.get("CARRIER_WEBHOOK_SECRET", ",".join(default.carrier_webhook_secrets))),
            payment_webhook_secrets=_csv(env.get("PAYMENT_WEBHOOK_SECRET", ",".join(default.payment_webhook_secrets))),
            stripe_webhook_secrets=_csv(env.get("STRIPE_WEBHOOK_SECRET", ",".join(default.stripe_webhook_secrets))),
            aftership_webhook_secrets=_csv(
                env.get("AFTERSHIP_WEBHOOK_SECRET", ",".join(default.aftership_webhook_secrets))
            ),
            link_secrets=_csv(get("LINK_SECRETS", ",".join(default.link_secrets))),
            tracking_link_days=int(get("TRACKING_LINK_DAYS", str(default.tracking_link_days))),
            public_base_url=get("PUBLIC_BASE_URL", default.public_base_url).rstrip("/"),
            shop_name=get("SHOP_NAME", default.shop_name),
            sender_email=get("SENDER_EMAIL", default.sender_email),
            ses_configuration_set=get("SES_CONFIGURATION_SET", default.ses_configuration_set),
            sms_sender_id=get("SMS_SENDER_ID", default.sms_sender_id),
            sms_daily_cap=int(get("SMS_DAILY_CAP", str(default.sms_daily_cap))),
            effects_give_up_hours=int(get("EFFECTS_GIVE_UP_HOURS", str(default.effects_give_up_hours))),
            sms_inbound_secrets=_csv(env.get("SMS_INBOUND_SECRET", ",".join(default.sms_inbound_secrets))),
            local_emulator_url=get("LOCAL_EMULATOR_URL", default.local_emulator_url),
            sms_inbound_topic_arns=_csv(get("SMS_INBOUND_TOPIC_ARNS", "")),
            ops_email=get("OPS_EMAIL", default.ops_email),
            ops_topic_arn=get("OPS_TOPIC_ARN", default.ops_topic_arn),
            idempotency_ttl_hours=int(get("IDEMPOTENCY_TTL_HOURS", str(default.idempotency_ttl_hours))),
            return_window_days=int(get("RETURN_WINDOW_DAYS", str(default.return_window_days))),
            return_receipt_days=int(get("RETURN_RECEIPT_DAYS", str(default.return_receipt_days))),
            webhook_timeout_seconds=float(get("WEBHOOK_TIMEOUT_SECONDS", str(default.webhook_timeout_seconds))),
            webhook_payment_failed_on_hold=_flag(get("WEBHOOK_PAYMENT_FAILED_ON_HOLD", "false")),
            stream_parallelization_factor=_bounded(
                "STREAM_PARALLELIZATION_FACTOR", get("STREAM_PARALLELIZATION_FACTOR", ""), default, 1, 10
            ),
            stream_batching_window_seconds=_bounded(
                "STREAM_BATCHING_WINDOW_SECONDS", get("STREAM_BATCHING_WINDOW_SECONDS", ""), default, 0, 300
            ),
            seller_name=get("SELLER_NAME", default.seller_name),
            seller_address=_lines(get("SELLER_ADDRESS", "|".join(default.seller_address))),
            seller_vat_id=get("SELLER_VAT_ID", default.seller_vat_id),
            seller_email=get("SELLER_EMAIL", default.seller_email),
            seller_street=get("SELLER_STREET", default.seller_street),
            seller_postal_code=get("SELLER_POSTAL_CODE", default.seller_postal_code),
            seller_city=get("SELLER_CITY", default.seller_city),
            seller_country=get("SELLER_COUNTRY", default.seller_country).upper(),
            seller_iban=get("SELLER_IBAN", default.seller_iban),
            zero_rate_category=_zero_rate_category(
                get("ZERO_RATE_CATEGORY", default.zero_rate_category), get("VAT_EXEMPTION_REASON", "")
            ),
            vat_exemption_reason=get("VAT_EXEMPTION_REASON", default.vat_exemption_reason),
            vat_exemption_code=get("VAT_EXEMPTION_CODE", default.vat_exemption_code),
            paper_size=_paper_size(get("PAPER_SIZE", default.paper_size)),
            invoice_prefix=get("INVOICE_PREFIX", default.invoice_prefix),
            credit_note_prefix=get("CREDIT_NOTE_PREFIX", default.credit_note_prefix),
            receipt_prefix=get("RECEIPT_PREFIX", default.receipt_prefix),
            documents_kms_key_id=get("DOCUMENTS_KMS_KEY_ID", default.documents_kms_key_id),
            ticket_acknowledge_hours=int(get("TICKET_ACKNOWLEDGE_HOURS", str(default.ticket_acknowledge_hours))),
            ticket_resolve_hours=int(get("TICKET_RESOLVE_HOURS", str(default.ticket_resolve_hours))),
            reply_domain=get("REPLY_DOMAIN", default.reply_domain),
            inbound_bucket=get("INBOUND_BUCKET", default.inbound_bucket),
            inbound_tickets_per_sender_hour=int(
                get("INBOUND_TICKETS_PER_SENDER_HOUR", str(default.inbound_tickets_per_sender_hour))
            ),
            cognito_domain=get("COGNITO_DOMAIN", default.cognito_domain).rstrip("/"),
            desk_client_id=get("DESK_CLIENT_ID", default.desk_client_id),
            survey_delivery_delay_hours=int(
                get("SURVEY_DELIVERY_DELAY_HOURS", str(default.survey_delivery_delay_hours))
            ),
            survey_support_delay_hours=int(get("SURVEY_SUPPORT_DELAY_HOURS", str(default.survey_support_delay_hours))),
            survey_throttle_days=int(get("SURVEY_THROTTLE_DAYS", str(default.survey_throttle_days))),
            survey_token_days=int(get("SURVEY_TOKEN_DAYS", str(default.survey_token_days))),
            kpi_targets=_targets(get("KPI_TARGETS", "")),
        )


# Secrets held in AWS Secrets Manager, by the setting they fill (ARNs come from the stack).
SECRET_ARN_VARIABLES = {
    "carrier_webhook_secrets": "OC_CARRIER_WEBHOOK_SECRET_ARN",
    "payment_webhook_secrets": "OC_PAYMENT_WEBHOOK_SECRET_ARN",
    "link_secrets": "OC_LINK_SIGNING_SECRET_ARN",
    "sms_inbound_secrets": "OC_SMS_INBOUND_SECRET_ARN",
    "stripe_webhook_secrets": "OC_STRIPE_WEBHOOK_SECRET_ARN",
    "aftership_webhook_secrets": "OC_AFTERSHIP_WEBHOOK_SECRET_ARN",
}
SECRETS_MAX_AGE_SECONDS = 300  # a rotated secret is picked up within five minutes


class ConfigurationError(RuntimeError):
    """The deployment is missing something it needs; fail closed rather than fall back."""


def _with_secrets(settings: Settings, env: dict[str, str] | os._Environ[str]) -> Settings:
    """Outside the local stack, secrets come from Secrets Manager, never from the public defaults."""
    from aws_lambda_powertools.utilities import parameters

    values: dict[str, tuple[str, ...]] = {}
    for field_name, variable in SECRET_ARN_VARIABLES.items():
        arn = env.get(variable)
        if not arn:
            raise ConfigurationError(f"{variable} is not set: refusing the local default secret")
        secret = parameters.get_secret(arn, max_age=SECRETS_MAX_AGE_SECONDS)
        values[field_name] = _csv(secret if isinstance(secret, str) else secret.decode())
        if not values[field_name]:
            raise ConfigurationError(f"the secret behind {variable} is empty")
    return replace(settings, **values)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=1)
def _local_settings() -> Settings:
    return Settings.from_env()


def get_settings() -> Settings:
    """Settings for this container: the environment read once; in AWS the secrets
    re-read (through Powertools' cache) so rotations take effect without a redeploy."""
    settings = _local_settings()
    if settings.is_local:
        if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and not settings.local_emulator_url:
            # Deployed without OC_ENVIRONMENT=aws: the local defaults (dev token key,
            # webhook secrets) are public, so refuse to run rather than accept them.
            raise ConfigurationError("running in AWS Lambda with OC_ENVIRONMENT=local")
        return settings
    return _with_secrets(settings, os.environ)


def reset_settings() -> None:
    """Forget the environment read so far (tests change it)."""
    _local_settings.cache_clear()
