"""The composition root: settings, adapters and services, built lazily once per container.

Nothing here runs at import time; `get_container()` builds everything on the
first request and warm invocations reuse it. Tests build their own Container
with fakes or reset it with `reset_container()`.

Settings have one lifetime everywhere: `Container.settings` asks its source on every
use (in AWS `get_settings()`, whose secrets Powertools caches for
SECRETS_MAX_AGE_SECONDS), so a rotated secret reaches every signer and verifier,
request handlers and stream consumers alike, within that window. Nothing captures
a secret at build time.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from chalicelib.settings import Settings, get_settings, reset_settings

# Services, domain and adapters are imported where the container builds them (first request), not
# when app.py imports this module: a cold start pays for the routes' registry alone.
if TYPE_CHECKING:
    from chalicelib.adapters.dynamo.tickets import DynamoTicketRepository
    from chalicelib.adapters.s3_mail import S3MailStore
    from chalicelib.domain.calendar import BusinessCalendar
    from chalicelib.domain.kpis import Fact
    from chalicelib.domain.orders import Order
    from chalicelib.domain.surveys import Answer, Survey
    from chalicelib.domain.tickets import TicketAttachment
    from chalicelib.notify.inbound_email import InboundEmailHandler
    from chalicelib.notify.service import NotificationService
    from chalicelib.services.catalog import CatalogService, DeliveryEstimator
    from chalicelib.services.documents import DocumentService
    from chalicelib.services.feedback import FeedbackSettings, KpiService, SurveyService
    from chalicelib.services.intents import Intent, IntentRunner
    from chalicelib.services.orders import OrderService
    from chalicelib.services.portal import PortalService
    from chalicelib.services.ports import CatalogRepository, Clock, IdempotencyStore, OrderRepository, PreferenceStore
    from chalicelib.services.return_intents import ReturnIntents
    from chalicelib.services.returns import ReturnService
    from chalicelib.services.sla import SlaService
    from chalicelib.services.tickets import TicketService
    from chalicelib.services.webhooks import WebhookService


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class Container:
    settings_source: Callable[[], Settings]
    orders: OrderService
    catalog: CatalogService
    estimates: DeliveryEstimator
    clock: SystemClock

    @property
    def settings(self) -> Settings:
        """The settings as of now (secrets as currently rotated, within the cache window)."""
        return self.settings_source()

    @functools.cached_property
    def notifications(self) -> NotificationService:
        """Built on first use: only stream consumers and schedules send messages."""
        from chalicelib.adapters.messaging import SesMailer, SnsSms, SnsTopic
        from chalicelib.notify.render import ShopIdentity
        from chalicelib.notify.service import NotificationService, OpsAlerts
        from chalicelib.presentation.links import tracking_url
        from chalicelib.services.document_intents import documents_for_payments

        settings = self.settings  # the non-secret values below are fixed for the container's life
        return NotificationService(
            preferences=self.preferences,
            mailer=SesMailer(
                settings.sender_email,
                settings.shop_name,
                settings.ses_configuration_set or None,
                attachment_loader=lambda key: self.documents.attachment_data({"s3_key": key}),
            ),
            sms=SnsSms(settings.sms_sender_id or None),
            clock=self.clock,
            shop=ShopIdentity(
                settings.shop_name, settings.shop_timezone, account_url=f"{settings.public_base_url}/account"
            ),
            tracking_url=lambda order_id: tracking_url(self.settings, order_id),  # signs with today's secret
            sms_daily_cap=settings.sms_daily_cap,
            ops=OpsAlerts(settings.ops_email, settings.ops_topic_arn),
            topic=SnsTopic(),
            documents_for=documents_for_payments,
            attachments=self.documents.attachments_for,
            reply_to=self.reply_address,
        )

    @functools.cached_property
    def intents(self) -> IntentRunner:
        """Every effect of an order change, recorded first, then driven (a new kind: one planner + handler)."""
        from chalicelib.adapters.dynamo.intents import DynamoIntentRecords
        from chalicelib.services.document_intents import DOCUMENT, DocumentIntents
        from chalicelib.services.intents import IntentRunner
        from chalicelib.services.return_intents import RETURN
        from chalicelib.services.webhooks import WEBHOOK

        documents = DocumentIntents(self.documents, self.orders.orders, self.returns.on_refund)
        window = timedelta(hours=self.settings.effects_give_up_hours)
        return IntentRunner(
            records=DynamoIntentRecords(lookback_days=window.days + 1),
            handlers={
                DOCUMENT: documents,
                "message": self.notifications,
                RETURN: self.return_intents,
                WEBHOOK: self.webhooks,
            },
            clock=self.clock,
            # documents first: the receipt email waits for them; outbound webhooks have their own consumer
            planners=[documents, self.notifications, self.webhooks],
            give_up_after=window,
            on_give_up=given_up_metric,
            parallel_kinds=frozenset({WEBHOOK}),
        )

    def reply_address(self, order_id: str) -> str:
        """The signed Reply-To of every email about this order."""
        from chalicelib.domain.reply_address import reply_address

        return reply_address(order_id, get_settings().link_secrets[0], self.settings.reply_domain)

    @functools.cached_property
    def documents(self) -> DocumentService:
        """Invoices, receipts and credit notes (fpdf2 is imported only when one is rendered)."""
        from chalicelib.adapters.dynamo.documents import DynamoDocumentRecords
        from chalicelib.adapters.s3_documents import S3DocumentStore
        from chalicelib.documents.einvoice import EInvoiceOptions
        from chalicelib.documents.invoice import Party
        from chalicelib.domain.address import Address
        from chalicelib.services.documents import DocumentService, Series

        s = self.settings
        postal = Address(s.seller_name, s.seller_street, s.seller_city, s.seller_postal_code, s.seller_country)
        return DocumentService(
            records=DynamoDocumentRecords(),
            pdfs=S3DocumentStore(s.documents_bucket, kms_key_id=s.documents_kms_key_id or None),
            clock=self.clock,
            seller=Party(
                s.seller_name,
                s.seller_address,
                vat_id=s.seller_vat_id or None,
                email=s.seller_email or None,
                country=s.seller_country,
                postal=postal,
            ),
            series=Series(invoice=s.invoice_prefix, receipt=s.receipt_prefix, credit_note=s.credit_note_prefix),
            timezone=s.shop_timezone,
            paper=s.paper_size,
            einvoice=EInvoiceOptions(
                zero_rate_category="E" if s.zero_rate_category == "E" else "Z",
                exemption_reason=s.vat_exemption_reason,
                exemption_code=s.vat_exemption_code,
                seller_iban=s.seller_iban,
                timezone=s.shop_timezone,
            ),
        )

    @functools.cached_property
    def sla(self) -> SlaService:
        from chalicelib.adapters.dynamo.timers import DynamoTimerStore
        from chalicelib.services.sla import SlaService

        return SlaService(
            DynamoTimerStore(),
            calendar_from(self.settings),
            self.clock,
            self.orders.orders,
            tickets=self.tickets,
            stall_days=self.settings.stall_business_days,
        )

    @functools.cached_property
    def tickets(self) -> TicketService:
        from chalicelib.adapters.dynamo.timers import DynamoTimerStore
        from chalicelib.domain.tickets import Deadlines
        from chalicelib.services.tickets import TicketService

        s = self.settings
        return TicketService(
            tickets=self.ticket_repository,
            orders=self.orders,
            clock=self.clock,
            deadlines=Deadlines(s.ticket_acknowledge_hours, s.ticket_resolve_hours),
            timers=DynamoTimerStore(),
            answers=self.orders,
        )

    @functools.cached_property
    def ticket_repository(self) -> DynamoTicketRepository:
        from chalicelib.adapters.dynamo.tickets import DynamoTicketRepository

        return DynamoTicketRepository()

    @functools.cached_property
    def mail_store(self) -> S3MailStore:
        """Raw inbound mail and its attachments (S3)."""
        from chalicelib.adapters.s3_mail import S3MailStore

        return S3MailStore(self.settings.inbound_bucket_name)

    def attachment_link(self, attachment: TicketAttachment) -> str:
        """A presigned (≤ 300 s) link to a ticket attachment; callers checked access first."""
        return self.mail_store.presigned_url(
            attachment.key, filename=attachment.filename, content_type=attachment.content_type
        )

    @functools.cached_property
    def portal(self) -> PortalService:
        """The customer portal: sign-in codes, sessions, one's own orders and documents."""
        from chalicelib.adapters.dynamo.portal import DynamoPortalStore, read_order_story
        from chalicelib.adapters.messaging import SesMailer
        from chalicelib.services.portal import PortalService, SealedCursors
        from chalicelib.web.portal_views import sign_in_mail

        s = self.settings
        return PortalService(
            store=DynamoPortalStore(),
            orders=self.orders,
            by_email=self.orders.orders,
            documents=self.documents,
            preferences_store=self.preferences,
            mailer=SesMailer(s.sender_email, s.shop_name, s.ses_configuration_set or None),
            clock=self.clock,
            cursors=SealedCursors(lambda: self.settings.link_secrets),  # read per use: secrets rotate
            secrets=lambda: self.settings.link_secrets,
            base_url=s.public_base_url,
            compose=lambda mail: sign_in_mail(mail.code, mail.link, mail.minutes, mail.lang, s.shop_name),
            read_story=read_order_story,
            tickets=self.tickets,
            returns=self.returns,
        )

    @functools.cached_property
    def kpis(self) -> KpiService:
        from chalicelib.adapters.dynamo.kpis import DynamoKpiStore, DynamoOpsBoard
        from chalicelib.adapters.s3_documents import S3ReportArchive
        from chalicelib.services.feedback import KpiService

        archive = S3ReportArchive(self.settings.documents_bucket, kms_key_id=self.settings.documents_kms_key_id or None)
        return KpiService(
            DynamoKpiStore(), self.clock, feedback_settings(self.settings), archive, DynamoOpsBoard(), kpi_metric
        )

    @functools.cached_property
    def surveys(self) -> SurveyService:
        from chalicelib.adapters.dynamo.kpis import DynamoSurveyStore
        from chalicelib.notify.milestones import Milestone
        from chalicelib.services.feedback import SurveyService

        def survey_url(token: str) -> str:
            return f"{get_settings().public_base_url}/surveys/{token}"

        def send(order: Order, survey: Survey, token: str) -> None:
            links = [{"score": n, "url": f"{survey_url(token)}?score={n}"} for n in range(1, 6)]
            data = {"survey_url": survey_url(token), "score_links": links, "survey_kind": survey.kind}
            milestone = Milestone("survey", f"survey:{survey.kind}:{survey.subject}", data)
            intents = self.notifications.plan_messages(order, [milestone])
            self.intents.record(intents)  # durable first: a failed send is finished by the retry schedule
            self.intents.drive([intent for intent in intents if intent.status == "pending"])

        def open_ticket(survey: Survey, answer: Answer) -> None:
            scores = f"CSAT {answer.csat}/5" + (f", NPS {answer.nps}/10" if answer.nps is not None else "")
            summary = f"Survey ({survey.kind}) answered with {scores}. Follow up: offer a solution."
            if answer.comment:
                summary += f"\nComment: {answer.comment}"
            self.tickets.open_for_survey(self.orders.get(survey.order_id), survey.id, summary)

        return SurveyService(
            store=DynamoSurveyStore(),
            kpis=self.kpis,
            clock=self.clock,
            config=feedback_settings(self.settings),
            secrets=lambda: get_settings().link_secrets,
            load_order=self.orders.get,
            send=send,
            survey_url=survey_url,
            has_open_case=self.kpis.store.has_open_case,
            open_ticket=open_ticket,
        )

    @functools.cached_property
    def returns(self) -> ReturnService:
        """Returns and exchanges (their rules, refunds, replacement orders, expiry sweep)."""
        from chalicelib.adapters.dynamo.returns import DynamoReturnRepository, DynamoReturnTimers
        from chalicelib.services.returns import ReturnService

        orders = self.orders
        return ReturnService(
            returns=DynamoReturnRepository(),
            orders=orders.orders,
            catalog=orders.catalog,
            timers=DynamoReturnTimers(),
            calendar=orders.calendar,
            clock=self.clock,
            cursors=orders.cursors,
            supported_countries=self.settings.supported_countries,
            window_days=self.settings.return_window_days,
            receipt_days=self.settings.return_receipt_days,
            answers=orders,
        )

    @functools.cached_property
    def return_intents(self) -> ReturnIntents:
        """A return's messages, credit note and replacement order, as durable intents."""
        from chalicelib.services.return_intents import ReturnIntents

        return ReturnIntents(self.returns, self.documents, self.notifications)

    @functools.cached_property
    def inbound_email(self) -> InboundEmailHandler:
        from chalicelib.notify.inbound_email import InboundEmailHandler

        s = self.settings
        return InboundEmailHandler(
            tickets=self.tickets,
            repository=self.ticket_repository,
            orders=self.orders,
            store=self.mail_store,
            clock=self.clock,
            reply_domain=s.reply_domain,
            secrets=lambda: get_settings().link_secrets,
            sender_hourly_cap=s.inbound_tickets_per_sender_hour,
        )

    @functools.cached_property
    def webhooks(self) -> WebhookService:
        """Outbound webhooks: subscriptions and their deliveries (the local stack may call 127.0.0.1)."""
        from chalicelib.adapters.dynamo.webhooks import DynamoWebhookStore
        from chalicelib.adapters.http_sender import GuardedHttpSender
        from chalicelib.services.webhooks import WebhookService

        local = self.settings.is_local
        return WebhookService(
            store=DynamoWebhookStore(),
            sender=GuardedHttpSender(allow_loopback=local),
            clock=self.clock,
            allow_loopback=local,
            timeout_seconds=self.settings.webhook_timeout_seconds,
            record=lambda intents: self.intents.record(intents),
            payment_failed_on_hold=lambda: self.settings.webhook_payment_failed_on_hold,
        )

    @functools.cached_property
    def preferences(self) -> PreferenceStore:
        from chalicelib.adapters.dynamo.notifications import DynamoPreferenceStore

        return DynamoPreferenceStore()


def given_up_metric(intent: Intent) -> None:
    """One `EffectsGivenUp` datapoint (an alarm watches it) per intent given up, by kind."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = Metrics(namespace="OrderCare")
    metrics.add_dimension(name="kind", value=intent.kind)
    metrics.add_metric(name="EffectsGivenUp", unit=MetricUnit.Count, value=1)
    metrics.flush_metrics()


def kpi_metric(fact: Fact) -> None:
    """CloudWatch EMF: one `KpiObserved` (and `KpiMissed` on a miss) per KPI a new fact counts, by KPI."""
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import MetricUnit

    from chalicelib.domain.kpis import KPI_NAMES

    for name in (counter.removesuffix("__den") for counter in fact.counts if counter.endswith("__den")):
        if name not in KPI_NAMES:  # components and per-source counters: the KPI itself is enough for alarms
            continue
        metrics = Metrics(namespace="OrderCare")
        metrics.add_dimension(name="kpi", value=name)
        metrics.add_metric(name="KpiObserved", unit=MetricUnit.Count, value=1)
        metrics.add_metric(name="KpiMissed", unit=MetricUnit.Count, value=int(name in fact.misses))
        metrics.flush_metrics()


def feedback_settings(settings: Settings) -> FeedbackSettings:
    from chalicelib.domain.kpis import DEFAULT_TARGETS
    from chalicelib.services.feedback import FeedbackSettings

    return FeedbackSettings(
        timezone=settings.shop_timezone,
        delivery_delay=timedelta(hours=settings.survey_delivery_delay_hours),
        support_delay=timedelta(hours=settings.survey_support_delay_hours),
        throttle_window=timedelta(days=settings.survey_throttle_days),
        token_days=settings.survey_token_days,
        targets={**DEFAULT_TARGETS, **dict(settings.kpi_targets)},
    )


def calendar_from(settings: Settings) -> BusinessCalendar:
    from chalicelib.domain.calendar import BusinessCalendar

    return BusinessCalendar(
        country=settings.shop_country,
        timezone=settings.shop_timezone,
        cutoff_hour=settings.cutoff_hour,
        handling_days=settings.handling_business_days,
        transit_days=dict(settings.transit_business_days),
    )


@dataclass(frozen=True)
class Adapters:
    """The repositories the request path needs (DynamoDB in every deployment; fakes in tests)."""

    orders: OrderRepository
    catalog: CatalogRepository
    idempotency: IdempotencyStore


def sweep_schedule(settings: Settings) -> Callable[[Order], datetime | None]:
    """When the SLA sweep next has work on an order (its promise and stall timers, in the shop's calendar)."""
    from chalicelib.domain.sla import next_due

    return functools.partial(next_due, calendar=calendar_from(settings), stall_days=settings.stall_business_days)


def dynamo_adapters(settings: Settings, clock: Clock) -> Adapters:
    from chalicelib.adapters.dynamo.repositories import (
        DynamoCatalogRepository,
        DynamoIdempotencyStore,
        DynamoOrderRepository,
    )

    orders = DynamoOrderRepository(sweep_schedule(settings), clock)
    return Adapters(orders, DynamoCatalogRepository(), DynamoIdempotencyStore())


def build_container(
    settings: Settings,
    clock: SystemClock | None = None,
    source: Callable[[], Settings] | None = None,
    adapters: Adapters | None = None,
) -> Container:
    """Wire the adapters (default: DynamoDB, on `settings.table_name`) into the services;
    `source` gives the current settings (default: `settings`)."""
    from chalicelib.services.catalog import CatalogService, DeliveryEstimator
    from chalicelib.services.orders import Cursors, OrderService

    if settings.is_local:  # outage drills: /local/faults reaches every AWS call of this process
        from chalicelib.adapters.faults import install

        install()
    clock = clock or SystemClock()
    if adapters is None:
        from chalicelib.adapters.dynamo import models

        models.configure(settings.table_name, settings.region)
        adapters = dynamo_adapters(settings, clock)
    current = source or (lambda: settings)
    calendar = calendar_from(settings)
    catalog_repository = adapters.catalog
    return Container(
        settings_source=current,
        orders=OrderService(
            orders=adapters.orders,
            catalog=catalog_repository,
            idempotency=adapters.idempotency,
            calendar=calendar,
            clock=clock,
            supported_countries=settings.supported_countries,
            idempotency_ttl=timedelta(hours=settings.idempotency_ttl_hours),
            cursors=Cursors(lambda: current().link_secrets),
        ),
        catalog=CatalogService(catalog_repository, clock),
        estimates=DeliveryEstimator(calendar, clock, settings.supported_countries),
        clock=clock,
    )


@functools.lru_cache(maxsize=1)
def get_container() -> Container:
    return build_container(get_settings(), source=get_settings)


def reset_container() -> None:
    """Forget the cached settings and container (tests change the environment)."""
    reset_settings()
    get_container.cache_clear()
