"""The OrderCare stack: the Chalice app (via `chalice.cdk.Chalice`) and everything it needs.

Shape (README.md, "Architecture"): the API function and the stream consumers share one
DynamoDB table; invoices, receipts and credit notes are rendered by the documents function,
a second Chalice app (documents/, its own package with the PDF and XML libraries), which
consumes the stream filtered to documents-lane intents and has its own retry schedule;
documents go to S3, messages through SES/SNS; schedules sweep what is due. Each Chalice
function gets its own IAM role, built here with resource-scoped grants (Chalice
`manage_iam_role: false`, `autogen_policy: false`); the packages Chalice writes are read
back so that stream consumers and schedules are wired generically as later issues add them.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as event_sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from aws_cdk import aws_ses_actions as ses_actions
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import custom_resources as cr
from chalice.utils import to_cfn_resource_name
from constructs import Construct

from infra.stacks.config import EXAMPLE_SENDER, StageConfig
from infra.stacks.grants import DELETE_ACTIONS, TABLE_ACTIONS, grants_for
from infra.stacks.packaging import API, DOCUMENTS, PrunedChalice

SERVICE = "ordercare"
METRICS_NAMESPACE = "OrderCare"
API_HANDLER = "APIHandler"  # the logical id Chalice gives the function behind the REST API
REST_API = "RestAPI"  # ... and the REST API itself
API_STAGE = "api"  # Chalice's default API Gateway stage
# Never reaches the template: every function's Role is replaced by its own role below.
_ROLE_PLACEHOLDER = "arn:aws:iam::000000000000:role/ordercare-replaced-per-function"

# Pipeline bounds: a poison record goes to the failure queue
# within an hour and never blocks its shard for a day (the AWS default).
STREAM_BATCH_SIZE = 100
STREAM_MAX_RETRIES = 5
STREAM_MAX_RECORD_AGE = cdk.Duration.hours(1)
SCHEDULE_MAX_RETRIES = 3
SCHEDULE_MAX_EVENT_AGE_SECONDS = 3600
ASYNC_MAX_RETRIES = 2
WORKER_TIMEOUT_SECONDS = 120
API_TIMEOUT_SECONDS = 29  # API Gateway gives up after 29 s

# KPI metrics the app emits with Powertools Metrics (EMF) in namespace "OrderCare",
# dimension service=ordercare. Placeholders until the code emits them.
KPI_METRICS = ("OrdersPlaced", "OrdersPaid", "OrdersShipped", "OrdersDelivered", "OrdersCancelled")
PIPELINE_METRICS = ("InvoicesIssued", "ReceiptsIssued", "EmailsSent", "SmsSent", "SlaBreaches")
SLA_BREACH_METRIC = "SlaBreaches"
EINVOICE_MISMATCH_METRIC = "EInvoiceTotalsMismatch"  # chalicelib.services.documents.TOTALS_MISMATCH_METRIC
WEBHOOK_DEAD_LETTER_METRIC = "WebhookDeadLettered"
POST_CONFIRMATION_FUNCTION = "cognito_post_confirmation"

_ATTRIBUTE_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_RULE_EVENT_TYPES = ("Schedule", "CloudWatchEvent")
_RETENTION = {14: logs.RetentionDays.TWO_WEEKS, 90: logs.RetentionDays.THREE_MONTHS}


@dataclass
class AppFunction:
    """One function of the Chalice package and what the stack knows about it."""

    logical_id: str
    resource: cdk.CfnResource
    package: str  # API (the repository's Chalice app) or DOCUMENTS (documents/)
    events: Mapping[str, Any]
    kind: str  # "api" | "stream" | "schedule" | "worker"
    role: iam.Role
    log_group: logs.LogGroup
    handle: lambda_.IFunction
    alarms: list[cloudwatch.Alarm] = field(default_factory=list)


def _rule_name(name: str, limit: int = 64) -> str:
    """EventBridge rule names are at most 64 characters: shorten long ones, keeping them unique."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}-{digest}"


def _key(schema: Sequence[Mapping[str, str]], key_type: str) -> str | None:
    return next((k["AttributeName"] for k in schema if k["KeyType"] == key_type), None)


class OrderCareStack(cdk.Stack):
    """Everything OrderCare runs on in one AWS account and region, for one stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StageConfig,
        source_dir: str | os.PathLike[str],
        documents_source_dir: str | os.PathLike[str] | None = None,
        stream_consumers: Mapping[str, Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, description=f"OrderCare ({config.stage})", **kwargs)
        self.config = config
        removal = cdk.RemovalPolicy.RETAIN if config.is_prod else cdk.RemovalPolicy.DESTROY
        if stream_consumers is None:
            from chalicelib.events import STREAM_CONSUMERS

            stream_consumers = STREAM_CONSUMERS
        unknown_tables = set(stream_consumers) - {"main"}
        if unknown_tables:
            raise ValueError(f"STREAM_CONSUMERS names unknown tables: {sorted(unknown_tables)}")

        cdk.Tags.of(self).add("app", SERVICE)
        cdk.Tags.of(self).add("stage", config.stage)

        self.table = self._table(removal)
        self.bucket = self._documents_bucket()
        self.ops_topic = self._ops_topic()
        self.email_identity, self.configuration_set = self._email()
        self.user_pool, self.users_client, self.storefront_client, self.user_pool_domain = self._cognito(removal)
        self.secrets = self._secrets()
        self._sms_settings()
        self.inbound_bucket = self._inbound_bucket(removal)
        self.desk_client = self._desk_client()
        self.sms_inbound_topic = self._sms_inbound_topic()

        self.chalice = PrunedChalice(
            self,
            "ChaliceApp",
            source_dir=os.fspath(source_dir),
            stage_config=self._chalice_stage_config(),
            package=API,
        )
        # The documents function's own package (staged by infra/stacks/packaging.py; the small
        # fixture apps of the infra tests have none).
        self.documents_chalice = (
            PrunedChalice(
                self,
                "DocumentsApp",
                source_dir=os.fspath(documents_source_dir),
                stage_config=self._chalice_stage_config(),
                package=DOCUMENTS,
            )
            if documents_source_dir is not None
            else None
        )
        if self.documents_chalice is not None:
            # Its dependencies are a layer too (cached on its requirements alone), under its own id.
            self.documents_chalice.get_resource("ManagedLayer").override_logical_id("DocumentsManagedLayer")
        self.functions = self._functions(set(stream_consumers.get("main", ())))
        self.api_name = f"{SERVICE}-{config.stage}"
        # Without a name the REST API is called after the OpenAPI title ("ordercare") in every
        # stage, and the API Gateway metrics of dev and prod would share their dimensions.
        self.chalice.get_resource(REST_API).add_property_override("Name", self.api_name)
        self._wire_stream_consumers()
        self._wire_schedules()
        self._wire_inbound_email()
        self._wire_post_confirmation()
        self._subscribe_sms_inbound()
        self._alarms()
        self._dashboard()
        self._outputs()

    # --- data -------------------------------------------------------------------------

    def _table(self, removal: cdk.RemovalPolicy) -> dynamodb.Table:
        """The single table, built from `table_spec()` so code and infra cannot drift."""
        from chalicelib.adapters.dynamo.schema import TTL_ATTRIBUTE, table_spec

        spec = table_spec("placeholder")
        types = {a["AttributeName"]: _ATTRIBUTE_TYPES[a["AttributeType"]] for a in spec["AttributeDefinitions"]}

        def attribute(name: str | None) -> dynamodb.Attribute | None:
            return None if name is None else dynamodb.Attribute(name=name, type=types[name])

        if spec["BillingMode"] != "PAY_PER_REQUEST":
            raise ValueError("table_spec must use on-demand billing")
        partition_key = attribute(_key(spec["KeySchema"], "HASH"))
        assert partition_key is not None
        table = dynamodb.Table(
            self,
            "Table",
            partition_key=partition_key,
            sort_key=attribute(_key(spec["KeySchema"], "RANGE")),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            stream=dynamodb.StreamViewType(spec["StreamSpecification"]["StreamViewType"]),
            time_to_live_attribute=TTL_ATTRIBUTE,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            deletion_protection=self.config.is_prod,
            removal_policy=removal,
        )
        for index in spec.get("GlobalSecondaryIndexes", []):
            projection = index["Projection"]
            index_key = attribute(_key(index["KeySchema"], "HASH"))
            assert index_key is not None
            table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=index_key,
                sort_key=attribute(_key(index["KeySchema"], "RANGE")),
                projection_type=dynamodb.ProjectionType(projection["ProjectionType"]),
                non_key_attributes=projection.get("NonKeyAttributes"),
            )
        return table

    # --- support: email in, the desk's staff sign-in ---------------------------------------

    @property
    def reply_domain(self) -> str:
        """Where customers' replies go (Reply-To: reply+<token>@<reply domain>)."""
        if self.config.reply_domain:
            return self.config.reply_domain
        return f"reply.{self.config.ses_domain}" if self.config.ses_domain else "reply.example.com"

    def _inbound_bucket(self, removal: cdk.RemovalPolicy) -> s3.Bucket:
        """Raw inbound mail (written by SES) and its attachments: private, TLS only, kept 90 days."""
        return s3.Bucket(
            self,
            "InboundMailBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,  # SES writes here: SSE-S3 needs no key grant
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=cdk.Duration.days(90))],
            removal_policy=removal,
            auto_delete_objects=False,
        )

    def _desk_client(self) -> cognito.UserPoolClient:
        """The desk's browser sign-in: the hosted UI, authorization code + PKCE (a public client)."""
        base = self.config.public_base_url or "https://example.invalid"
        return self.user_pool.add_client(
            "DeskClient",
            user_pool_client_name="ordercare-desk",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL],
                callback_urls=[f"{base}/desk/callback"],
                logout_urls=[f"{base}/desk"],
            ),
            access_token_validity=cdk.Duration.hours(8),
            prevent_user_existence_errors=True,
        )

    def _wire_inbound_email(self) -> None:
        """SES receiving on the reply domain: store the raw message in S3, then invoke `inbound_email`
        asynchronously (retried twice, then its failure queue: nothing is lost)."""
        from chalicelib.notify.inbound_email import SES_OBJECT_PREFIX

        fn = self.functions.get(to_cfn_resource_name("inbound_email"))
        if fn is None:
            return  # an app without email in (the infra tests' small fixture apps)
        queue = self._failure_queue("InboundEmailFailures")
        self.inbound_failure_queue = queue
        queue.grant_send_messages(fn.role)
        invoke_config = lambda_.CfnEventInvokeConfig(
            self,
            "InboundEmailAsyncConfig",
            function_name=fn.resource.ref,
            qualifier="$LATEST",
            maximum_retry_attempts=ASYNC_MAX_RETRIES,
            maximum_event_age_in_seconds=SCHEDULE_MAX_EVENT_AGE_SECONDS,
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=queue.queue_arn)
            ),
        )
        invoke_config.node.add_dependency(fn.role)
        rule_set = ses.ReceiptRuleSet(self, "InboundRuleSet", receipt_rule_set_name=f"{self.stack_name}-inbound")
        rule_set.add_rule(
            "Replies",
            recipients=[self.reply_domain],
            scan_enabled=True,
            tls_policy=ses.TlsPolicy.REQUIRE,
            actions=[
                ses_actions.S3(bucket=self.inbound_bucket, object_key_prefix=SES_OBJECT_PREFIX),
                ses_actions.Lambda(function=fn.handle, invocation_type=ses_actions.LambdaInvocationType.EVENT),
            ],
        )
        self._alarm(
            "InboundEmailFailuresAlarm",
            self._queue_depth(queue),
            "inbound emails the handler could not process (redrive from the queue)",
        )

    def _documents_bucket(self) -> s3.Bucket:
        """Invoices, receipts, credit notes: private, versioned, TLS only; read via presigned URLs."""
        return s3.Bucket(
            self,
            "DocumentsBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            versioned=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="documents-age-out",
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                    noncurrent_version_expiration=cdk.Duration.days(365 if self.config.is_prod else 30),
                )
            ],
            # Documents are business records: never deleted with the stack, in any stage.
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    # --- messaging ----------------------------------------------------------------------

    def _sms_inbound_topic(self) -> sns.Topic:
        """Two-way SMS: End User Messaging publishes replies here; the API subscribes over HTTPS."""
        topic = sns.Topic(
            self, "SmsInbound", display_name=f"OrderCare {self.config.stage} SMS replies", enforce_ssl=True
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("sms-voice.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={"StringEquals": {"aws:SourceAccount": self.account}},
            )
        )
        return topic

    def _subscribe_sms_inbound(self) -> None:
        endpoint = cdk.Fn.sub(
            "https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/v1/webhooks/sms-inbound"
        )
        sns.Subscription(
            self,
            "SmsInboundToApi",
            topic=self.sms_inbound_topic,
            protocol=sns.SubscriptionProtocol.HTTPS,
            endpoint=endpoint,
            raw_message_delivery=False,  # the API verifies the SNS envelope's signature
        )

    def _wire_post_confirmation(self) -> None:
        """Self-signed-up users land in the `customer` group once they confirm."""
        fn = self.functions.get(to_cfn_resource_name(POST_CONFIRMATION_FUNCTION))
        if fn is None:
            return  # an app without the trigger (the prod fixture)
        # The trigger reads no settings; without the pool's ids in its environment there is no
        # pool → function → pool cycle.
        pool_bound = ("OC_COGNITO_JWKS_URL", "OC_JWT_ISSUER", "OC_JWT_AUDIENCE", "OC_STOREFRONT_CLIENT_IDS")
        for name in (*pool_bound, "OC_COGNITO_DOMAIN", "OC_DESK_CLIENT_ID"):
            fn.resource.add_property_deletion_override(f"Environment.Variables.{name}")
        self.user_pool.add_trigger(cognito.UserPoolOperation.POST_CONFIRMATION, fn.handle)
        # The pool ARN cannot be named here (pool → trigger → function → role → pool is a cycle):
        # user pools of this account and region, for this one action.
        fn.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["cognito-idp:AdminAddUserToGroup"],
                resources=[self.format_arn(service="cognito-idp", resource="userpool", resource_name="*")],
            )
        )

    def _ops_topic(self) -> sns.Topic:
        topic = sns.Topic(self, "OpsAlerts", display_name=f"OrderCare {self.config.stage} alerts", enforce_ssl=True)
        # A topic policy replaces the default one: let this account's alarms publish explicitly.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": self.format_arn(
                            service="cloudwatch",
                            resource="alarm",
                            resource_name="*",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                },
            )
        )
        if self.config.ops_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.config.ops_email))
        return topic

    def _email(self) -> tuple[ses.EmailIdentity, ses.ConfigurationSet]:
        configuration_set = ses.ConfigurationSet(
            self,
            "EmailConfigurationSet",
            reputation_metrics=True,
            sending_enabled=True,
            suppression_reasons=ses.SuppressionReasons.BOUNCES_AND_COMPLAINTS,
        )
        if self.config.ses_domain:
            identity = ses.Identity.domain(self.config.ses_domain)
        else:
            identity = ses.Identity.email(self.config.ses_sender)
        email_identity = ses.EmailIdentity(
            self, "EmailIdentity", identity=identity, configuration_set=configuration_set
        )
        if self.config.ses_sender == EXAMPLE_SENDER:
            cdk.Annotations.of(self).add_warning_v2(
                "ordercare:ses-sender",
                "SES sender is the example address: deploy with -c ses_domain=... -c ses_sender=...",
            )
        return email_identity, configuration_set

    def _sms_settings(self) -> None:
        """SNS SMS spend limit and type: account-wide settings, applied only when asked for."""
        if not self.config.sms_monthly_spend_limit:
            return
        call = cr.AwsSdkCall(
            service="SNS",
            action="setSMSAttributes",
            parameters={
                "attributes": {
                    "MonthlySpendLimit": self.config.sms_monthly_spend_limit,
                    "DefaultSMSType": "Transactional",
                }
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"ordercare-sms-{self.config.stage}"),
        )
        cr.AwsCustomResource(
            self,
            "SmsSettings",
            on_create=call,
            on_update=call,
            # SetSMSAttributes has no resource-level permissions; SNS is not a data service here.
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [iam.PolicyStatement(actions=["sns:SetSMSAttributes"], resources=["*"])]
            ),
            install_latest_aws_sdk=False,
        )

    # --- identity -----------------------------------------------------------------------

    def _cognito(
        self, removal: cdk.RemovalPolicy
    ) -> tuple[cognito.UserPool, cognito.UserPoolClient, cognito.UserPoolClient, cognito.UserPoolDomain]:
        pool = cognito.UserPool(
            self,
            "UserPool",
            # Customers sign themselves up; the post-confirmation trigger puts them in `customer`.
            self_sign_up_enabled=True,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            standard_attributes=cognito.StandardAttributes(
                email=cognito.StandardAttribute(required=True, mutable=True)
            ),
            password_policy=cognito.PasswordPolicy(
                min_length=12, require_digits=True, require_lowercase=True, require_uppercase=True
            ),
            mfa=cognito.Mfa.OPTIONAL,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            deletion_protection=self.config.is_prod,
            removal_policy=removal,
        )
        # The app maps `cognito:groups` to roles; the most privileged group wins.
        for precedence, group in enumerate(("admin", "agent", "customer")):
            cognito.CfnUserPoolGroup(
                self,
                f"{group.capitalize()}Group",
                user_pool_id=pool.user_pool_id,
                group_name=group,
                precedence=precedence,
                description=f"OrderCare {group}s",
            )
        users_client = pool.add_client(
            "UsersClient",
            user_pool_client_name="ordercare-users",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True, admin_user_password=True),
            disable_o_auth=True,
            prevent_user_existence_errors=True,
            access_token_validity=cdk.Duration.hours(1),
            id_token_validity=cdk.Duration.hours(1),
            refresh_token_validity=cdk.Duration.days(30),
        )
        storefront_scope = cognito.ResourceServerScope(
            scope_name="storefront", scope_description="The storefront: catalogue, checkout, orders"
        )
        resource_server = pool.add_resource_server("ResourceServer", identifier="ordercare", scopes=[storefront_scope])
        storefront_client = pool.add_client(
            "StorefrontClient",
            user_pool_client_name="ordercare-storefront",
            generate_secret=True,
            auth_flows=cognito.AuthFlow(),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(client_credentials=True),
                scopes=[cognito.OAuthScope.resource_server(resource_server, storefront_scope)],
            ),
            access_token_validity=cdk.Duration.hours(1),
        )
        prefix = self.config.cognito_domain_prefix or f"ordercare-{self.config.stage}-{self.account}"
        domain = pool.add_domain("Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix))
        return pool, users_client, storefront_client, domain

    def _secrets(self) -> dict[str, secretsmanager.Secret]:
        """Generated once; the real webhook secrets are then put by an operator (README)."""
        secrets = {}
        for env_name, logical_id, description in (
            ("OC_CARRIER_WEBHOOK_SECRET_ARN", "CarrierWebhookSecret", "carrier webhook signing secret"),
            ("OC_PAYMENT_WEBHOOK_SECRET_ARN", "PaymentWebhookSecret", "payment webhook signing secret"),
            ("OC_LINK_SIGNING_SECRET_ARN", "LinkSigningSecret", "signs tracking/survey links"),
            ("OC_SMS_INBOUND_SECRET_ARN", "SmsInboundSecret", "inbound SMS webhook secret"),
            # Put the provider's own value (Stripe's whsec_…, AfterShip's webhook secret) after deploy.
            ("OC_STRIPE_WEBHOOK_SECRET_ARN", "StripeWebhookSecret", "Stripe webhook signing secret (whsec_…)"),
            ("OC_AFTERSHIP_WEBHOOK_SECRET_ARN", "AftershipWebhookSecret", "AfterShip webhook secret"),
        ):
            secrets[env_name] = secretsmanager.Secret(
                self,
                logical_id,
                description=f"OrderCare {self.config.stage}: {description}",
                generate_secret_string=secretsmanager.SecretStringGenerator(
                    password_length=48, exclude_punctuation=True
                ),
                removal_policy=cdk.RemovalPolicy.RETAIN if self.config.is_prod else cdk.RemovalPolicy.DESTROY,
            )
        return secrets

    # --- the Chalice app ------------------------------------------------------------------

    def function_environment(self) -> dict[str, str]:
        """Environment of every function (names read by chalicelib/settings.py and Powertools)."""
        # The `iss` claim of Cognito tokens (the ProviderURL attribute lacks the scheme).
        issuer = f"https://cognito-idp.{self.region}.{self.url_suffix}/{self.user_pool.user_pool_id}"
        env = {
            "OC_ENVIRONMENT": "aws",
            "OC_TABLE_NAME": self.table.table_name,
            "OC_DOCUMENTS_BUCKET": self.bucket.bucket_name,
            "OC_SHOP_COUNTRY": self.config.shop_country,
            "OC_SHOP_TIMEZONE": self.config.shop_timezone,
            "OC_SHOP_CURRENCY": self.config.shop_currency,
            "OC_COGNITO_JWKS_URL": f"{issuer}/.well-known/jwks.json",
            "OC_JWT_ISSUER": issuer,
            # Access tokens of the API's users client and of the desk's browser sign-in.
            "OC_JWT_AUDIENCE": cdk.Fn.join(
                ",", [self.users_client.user_pool_client_id, self.desk_client.user_pool_client_id]
            ),
            "OC_STOREFRONT_CLIENT_IDS": self.storefront_client.user_pool_client_id,
            "OC_PUBLIC_BASE_URL": self.config.public_base_url,
            "OC_SHOP_NAME": self.config.shop_name,
            "OC_SENDER_EMAIL": self.config.ses_sender,
            "OC_SMS_SENDER_ID": self.config.sms_sender_id,
            "OC_SES_CONFIGURATION_SET": self.configuration_set.configuration_set_name,
            # Escalations: the topic (its subscribers, incl. ops_email) and a direct email.
            "OC_OPS_TOPIC_ARN": self.ops_topic.topic_arn,
            # STOP/START replies arrive on this topic (End User Messaging two-way SMS); others are refused.
            "OC_SMS_INBOUND_TOPIC_ARNS": self.sms_inbound_topic.topic_arn,
            "OC_OPS_EMAIL": self.config.ops_email,
            "OC_SELLER_NAME": self.config.seller_name,
            "OC_SELLER_ADDRESS": self.config.seller_address,
            "OC_SELLER_VAT_ID": self.config.seller_vat_id,
            "OC_INBOUND_BUCKET": self.inbound_bucket.bucket_name,
            "OC_REPLY_DOMAIN": self.reply_domain,
            "OC_COGNITO_DOMAIN": self.user_pool_domain.base_url(),
            "OC_DESK_CLIENT_ID": self.desk_client.user_pool_client_id,
            "OC_WEBHOOK_PAYMENT_FAILED_ON_HOLD": self.config.webhook_payment_failed_on_hold,
            "POWERTOOLS_SERVICE_NAME": SERVICE,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        env.update({name: secret.secret_arn for name, secret in self.secrets.items()})
        if not self.config.public_base_url:
            cdk.Annotations.of(self).add_warning_v2(
                "ordercare:public-base-url",
                "OC_PUBLIC_BASE_URL is empty: links in messages are relative until you deploy with "
                "-c public_base_url=<the ApiUrl output or your domain>",
            )
        return env

    def _chalice_stage_config(self) -> dict[str, Any]:
        return {
            "environment_variables": self.function_environment(),
            "autogen_policy": False,
            "manage_iam_role": False,
            # Dependencies in a layer cached on requirements.txt alone: a code change then
            # re-zips only app.py + chalicelib (chalice's one-zip cache key hashes the code too,
            # so every edit re-downloaded every wheel) and a deploy uploads only the code.
            "automatic_layer": True,
            "iam_role_arn": _ROLE_PLACEHOLDER,
            "api_gateway_endpoint_type": "REGIONAL",
            "lambda_memory_size": self.config.lambda_memory_mb,
            "lambda_timeout": API_TIMEOUT_SECONDS,
            "xray": True,
        }

    @staticmethod
    def _sam_resources(chalice: PrunedChalice) -> dict[str, Any]:
        """The SAM template `chalice package` wrote (read back to find functions and their events)."""
        package_dir = Path(chalice._sam_package_dir)
        template: dict[str, Any] = json.loads((package_dir / "sam.json").read_text())
        return dict(template["Resources"])

    def _packages(self) -> list[tuple[PrunedChalice, dict[str, Any]]]:
        packages = [self.chalice, *([self.documents_chalice] if self.documents_chalice is not None else [])]
        return [(chalice, self._sam_resources(chalice)) for chalice in packages]

    def _functions(self, stream_consumer_names: set[str]) -> dict[str, AppFunction]:
        consumers = {to_cfn_resource_name(name): name for name in stream_consumer_names}
        functions: dict[str, AppFunction] = {}
        definitions = [
            (chalice, logical_id, definition)
            for chalice, resources in self._packages()
            for logical_id, definition in resources.items()
        ]
        for chalice, logical_id, definition in definitions:
            if definition["Type"] != "AWS::Serverless::Function":
                continue
            if logical_id in functions:
                raise ValueError(f"{logical_id}: defined by both Chalice apps")
            events = definition["Properties"].get("Events") or {}
            unsupported = sorted({e["Type"] for e in events.values()} - set(_RULE_EVENT_TYPES))
            if unsupported:
                raise ValueError(
                    f"{logical_id}: event sources {unsupported} are not wired in infra/ "
                    "(consume the table stream through STREAM_CONSUMERS instead)"
                )
            if logical_id == API_HANDLER:
                kind = "api"
            elif logical_id in consumers:
                kind = "stream"
            elif events:
                kind = "schedule"
            else:
                kind = "worker"
            if kind == "stream" and events:
                raise ValueError(f"{logical_id} is a stream consumer and must not have other events")
            functions[logical_id] = self._function(chalice, logical_id, events, kind)
        missing = sorted(set(consumers) - set(functions))
        if missing:
            names = [consumers[m] for m in missing]
            raise ValueError(f"STREAM_CONSUMERS names functions app.py does not define: {names}")
        return functions

    def _function(self, chalice: PrunedChalice, logical_id: str, events: Mapping[str, Any], kind: str) -> AppFunction:
        resource = chalice.get_resource(logical_id)
        log_group = logs.LogGroup(
            self,
            f"{logical_id}Logs",
            log_group_name=f"/aws/lambda/{self.stack_name}/{logical_id}",
            retention=_RETENTION[self.config.log_retention_days],
            removal_policy=cdk.RemovalPolicy.RETAIN if self.config.is_prod else cdk.RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            f"{logical_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"OrderCare {self.config.stage} {kind} function {logical_id}",
            # Inline in the role (not a separate policy) because Lambda checks the X-Ray
            # permission when it creates a function with active tracing.
            inline_policies={
                "runtime": iam.PolicyDocument(
                    statements=[
                        iam.PolicyStatement(
                            actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                            resources=[log_group.log_group_arn],
                        ),
                        iam.PolicyStatement(
                            # X-Ray has no resource-level permissions.
                            actions=["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                            resources=["*"],
                        ),
                    ]
                )
            },
        )
        resource.add_property_override("Role", role.role_arn)
        resource.add_property_override("LoggingConfig", {"LogGroup": log_group.log_group_name})
        if kind != "api":
            resource.add_property_override("Timeout", WORKER_TIMEOUT_SECONDS)
        handle = lambda_.Function.from_function_attributes(
            self,
            f"{logical_id}Handle",
            function_arn=resource.get_att("Arn").to_string(),
            role=role,
            same_environment=True,
        )
        self._grant(logical_id, role)
        return AppFunction(logical_id, resource, chalice.package, events, kind, role, log_group, handle)

    def _grant(self, logical_id: str, role: iam.Role) -> None:
        """Exactly what this function calls (infra/stacks/grants.py); every data grant names its resources."""
        grants = grants_for(logical_id)
        table = self.table.table_arn
        actions = [*TABLE_ACTIONS, *(DELETE_ACTIONS if grants.deletes else ())]
        role.add_to_principal_policy(
            iam.PolicyStatement(actions=actions, resources=[table, f"{table}/index/*"])  # no Scan, anywhere
        )
        for secret in self.secrets.values():  # settings read every secret at start (and fail closed)
            secret.grant_read(role)
        if grants.read_documents:
            self.bucket.grant_read(role)  # presigned GETs are signed with the function's role
            self.inbound_bucket.grant_read(role)  # ticket attachments: presigned links; the handler reads raw mail
        if grants.put_documents:
            self.bucket.grant_put(role)
            self.inbound_bucket.grant_put(role)  # attachments cut out of inbound mail
        if grants.email:
            role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["ses:SendEmail", "ses:SendRawEmail"],
                    resources=[
                        self.format_arn(service="ses", resource="identity", resource_name=self.config.ses_identity),
                        self.format_arn(
                            service="ses",
                            resource="configuration-set",
                            resource_name=self.configuration_set.configuration_set_name,
                        ),
                    ],
                )
            )
        if grants.ops_topic:
            self.ops_topic.grant_publish(role)
        if grants.sms:
            # SMS to phone numbers: sns:Publish has no resource to name for a phone number.
            role.add_to_principal_policy(iam.PolicyStatement(actions=["sns:Publish"], resources=["*"]))

    # --- stream consumers and schedules -----------------------------------------------------

    def _failure_queue(self, construct_id: str) -> sqs.Queue:
        return sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )

    def _wire_stream_consumers(self) -> None:
        """One event source mapping per consumer: partial batch failures, bounded retries, SQS on failure."""
        self.stream_failure_queues: dict[str, sqs.Queue] = {}
        for fn in self.functions.values():
            if fn.kind != "stream":
                continue
            queue = self._failure_queue(f"{fn.logical_id}StreamFailures")
            self.stream_failure_queues[fn.logical_id] = queue
            # Explicit and resource-scoped (SAM's DynamoDBStreamReadPolicy shape).
            fn.role.add_to_principal_policy(
                iam.PolicyStatement(
                    actions=["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"],
                    resources=[self.table.table_stream_arn or ""],
                )
            )
            fn.role.add_to_principal_policy(
                iam.PolicyStatement(actions=["dynamodb:ListStreams"], resources=[f"{self.table.table_arn}/stream/*"])
            )
            mapping = lambda_.EventSourceMapping(
                self,
                f"{fn.logical_id}StreamMapping",
                target=fn.handle,
                event_source_arn=self.table.table_stream_arn,
                starting_position=lambda_.StartingPosition.TRIM_HORIZON,
                batch_size=STREAM_BATCH_SIZE,
                # A sale's burst: several batches of a shard at once, one order's records in order.
                parallelization_factor=self.config.stream_parallelization_factor,
                max_batching_window=cdk.Duration.seconds(self.config.stream_batching_window_seconds),
                bisect_batch_on_error=True,
                retry_attempts=STREAM_MAX_RETRIES,
                max_record_age=STREAM_MAX_RECORD_AGE,
                report_batch_item_failures=True,
                # Only the records the consumer acts on invoke it (chalicelib/events.py STREAM_FILTERS).
                filters=self._stream_filters(fn.logical_id),
                on_failure=event_sources.SqsDlq(queue),  # grants the role sqs:SendMessage on the queue
            )
            # Lambda checks the role's stream and queue permissions when it creates the mapping.
            mapping.node.add_dependency(fn.role)
            mapping.node.add_dependency(fn.log_group)

    @staticmethod
    def _stream_filters(logical_id: str) -> list[dict[str, Any]] | None:
        from chalicelib.events import STREAM_FILTERS

        for name, pattern in STREAM_FILTERS.items():
            if to_cfn_resource_name(name) == logical_id:
                return [lambda_.FilterCriteria.filter(pattern)]
        return None

    def _wire_schedules(self) -> None:
        """Chalice's schedule rules get a retry policy and a DLQ; async invocations an on-failure queue."""
        scheduled = [fn for fn in self.functions.values() if fn.kind == "schedule"]
        self.schedule_failure_queue: sqs.Queue | None = None
        if not scheduled:
            return
        queue = self._failure_queue("ScheduleFailures")
        self.schedule_failure_queue = queue
        rule_arns: list[str] = []
        for fn in scheduled:
            for event_name in fn.events:
                rule_name = _rule_name(f"{self.stack_name}-{fn.logical_id}-{event_name}")
                prefix = f"Events.{event_name}.Properties"
                fn.resource.add_property_override(f"{prefix}.Name", rule_name)
                fn.resource.add_property_override(
                    f"{prefix}.RetryPolicy",
                    {
                        "MaximumRetryAttempts": SCHEDULE_MAX_RETRIES,
                        "MaximumEventAgeInSeconds": SCHEDULE_MAX_EVENT_AGE_SECONDS,
                    },
                )
                fn.resource.add_property_override(f"{prefix}.DeadLetterConfig", {"Arn": queue.queue_arn})
                rule_arns.append(self.format_arn(service="events", resource="rule", resource_name=rule_name))
            # CDK's built-in validator (its own SAM transform) then reports "Missing required
            # property 'Schedule'": a false positive when DeadLetterConfig.Arn is an intrinsic.
            # aws-sam-translator 1.115 transforms these events into rules with the DLQ and retry
            # policy, and cfn-lint checks them against the SAM schema (tests/infra).
            cdk.Validations.of(fn.resource).acknowledge(
                cdk.Acknowledgment(
                    id="CloudFormation-Validate::E0001",
                    reason="false positive on Schedule events whose DeadLetterConfig.Arn is a GetAtt",
                )
            )
            queue.grant_send_messages(fn.role)
            invoke_config = lambda_.CfnEventInvokeConfig(
                self,
                f"{fn.logical_id}AsyncConfig",
                function_name=fn.resource.ref,
                qualifier="$LATEST",
                maximum_retry_attempts=ASYNC_MAX_RETRIES,
                maximum_event_age_in_seconds=SCHEDULE_MAX_EVENT_AGE_SECONDS,
                destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                    on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=queue.queue_arn)
                ),
            )
            invoke_config.node.add_dependency(fn.role)
        queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage"],
                resources=[queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule_arns}},
            )
        )

    # --- observability --------------------------------------------------------------------

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        description: str,
        threshold: float = 1,
        evaluation_periods: int = 1,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=evaluation_periods,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.ops_topic))
        return alarm

    def _lambda_metric(self, fn: AppFunction, name: str, statistic: str = "Sum") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/Lambda",
            metric_name=name,
            dimensions_map={"FunctionName": fn.resource.ref},
            statistic=statistic,
            period=cdk.Duration.minutes(5),
        )

    def _queue_depth(self, queue: sqs.Queue) -> cloudwatch.Metric:
        return queue.metric_approximate_number_of_messages_visible(statistic="Maximum", period=cdk.Duration.minutes(1))

    def _kpi_metric(self, name: str, period: cdk.Duration | None = None) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=name,
            dimensions_map={"service": SERVICE},
            statistic="Sum",
            period=period or cdk.Duration.hours(1),
        )

    def _alarms(self) -> None:
        for fn in self.functions.values():
            fn.alarms.append(
                self._alarm(f"{fn.logical_id}Errors", self._lambda_metric(fn, "Errors"), f"{fn.logical_id} errors")
            )
            fn.alarms.append(
                self._alarm(
                    f"{fn.logical_id}Throttles",
                    self._lambda_metric(fn, "Throttles"),
                    f"{fn.logical_id} throttled",
                )
            )
            if fn.kind == "stream":
                fn.alarms.append(
                    self._alarm(
                        f"{fn.logical_id}IteratorAge",
                        self._lambda_metric(fn, "IteratorAge", "Maximum"),
                        f"{fn.logical_id} is more than 5 minutes behind the stream",
                        threshold=300_000,
                        evaluation_periods=3,
                    )
                )
        queues = dict(self.stream_failure_queues)
        if self.schedule_failure_queue is not None:
            queues["Schedule"] = self.schedule_failure_queue
        for name, queue in queues.items():
            self._alarm(
                f"{name}FailureQueueAlarm",
                self._queue_depth(queue),
                f"{name}: a message reached the failure queue (inspect, fix, redrive)",
            )
        self._alarm(
            "SesBounceRate",
            cloudwatch.Metric(namespace="AWS/SES", metric_name="Reputation.BounceRate", statistic="Maximum"),
            "SES bounce rate at 5% (AWS reviews the account at 10%)",
            threshold=0.05,
        )
        self._alarm(
            "SesComplaintRate",
            cloudwatch.Metric(namespace="AWS/SES", metric_name="Reputation.ComplaintRate", statistic="Maximum"),
            "SES complaint rate at 0.1% (AWS reviews the account at 0.5%)",
            threshold=0.001,
        )
        self._alarm(
            "SlaBreaches",
            self._kpi_metric(SLA_BREACH_METRIC, cdk.Duration.minutes(15)),
            "Orders breached their ship-by/deliver-by promise (EMF metric SlaBreaches)",
        )
        self._alarm(
            "EInvoiceTotalsMismatch",
            self._kpi_metric(EINVOICE_MISMATCH_METRIC, cdk.Duration.minutes(5)),
            "An invoice or credit note was not issued: its e-invoice XML disagreed with the document (EMF metric)",
        )
        self._alarm(
            "WebhookDeadLettered",
            self._kpi_metric(WEBHOOK_DEAD_LETTER_METRIC, cdk.Duration.minutes(15)),
            "An outbound webhook failed for 24 h and was dead-lettered (GET …/deliveries shows it)",
        )
        # Chalice turns exceptions into 500 responses, so Lambda Errors miss them: watch the API too.
        self._alarm(
            "Api5xx",
            self._api_metric("5XXError", "Sum"),
            "The API answered 5xx at least 5 times in 5 minutes",
            threshold=5,
        )

    def _api_metric(self, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=name,
            dimensions_map={"ApiName": self.api_name, "Stage": API_STAGE},
            statistic=statistic,
            period=cdk.Duration.minutes(5),
        )

    def _dashboard(self) -> None:
        dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=f"OrderCare-{self.config.stage}",
            default_interval=cdk.Duration.hours(24),
        )
        functions = list(self.functions.values())
        dashboard.add_widgets(
            cloudwatch.TextWidget(
                markdown=f"# OrderCare {self.config.stage}\nKPIs (EMF, namespace `{METRICS_NAMESPACE}`), "
                "pipeline health, functions, table.",
                width=24,
                height=2,
            )
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="KPIs: orders per hour",
                left=[self._kpi_metric(name) for name in KPI_METRICS],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Pipeline: documents, messages, SLA breaches per hour",
                left=[self._kpi_metric(name) for name in PIPELINE_METRICS],
                width=12,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API: requests and errors",
                left=[self._api_metric(m, "Sum") for m in ("Count", "4XXError", "5XXError")],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="API: latency (ms)",
                left=[self._api_metric("Latency", s).with_(label=f"Latency {s}") for s in ("p50", "p95", "p99")],
                width=12,
            ),
        )
        queues = dict(self.stream_failure_queues)
        if self.schedule_failure_queue is not None:
            queues["Schedule"] = self.schedule_failure_queue
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Stream lag (IteratorAge ms, max)",
                left=[self._lambda_metric(fn, "IteratorAge", "Maximum") for fn in functions if fn.kind == "stream"],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Failure queues (visible messages)",
                left=[self._queue_depth(q).with_(label=name) for name, q in queues.items()],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="SES reputation",
                left=[
                    cloudwatch.Metric(namespace="AWS/SES", metric_name=m, statistic="Maximum")
                    for m in ("Reputation.BounceRate", "Reputation.ComplaintRate")
                ],
                width=8,
            ),
        )
        dashboard.add_widgets(
            *[
                cloudwatch.GraphWidget(
                    title=f"Functions: {title}",
                    left=[self._lambda_metric(fn, metric, statistic).with_(label=fn.logical_id) for fn in functions],
                    width=6,
                )
                for title, metric, statistic in (
                    ("invocations", "Invocations", "Sum"),
                    ("errors", "Errors", "Sum"),
                    ("throttles", "Throttles", "Sum"),
                    ("duration p95 (ms)", "Duration", "p95"),
                )
            ]
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Table: consumed capacity",
                left=[
                    self.table.metric_consumed_read_capacity_units(),
                    self.table.metric_consumed_write_capacity_units(),
                ],
                width=12,
            ),
            cloudwatch.GraphWidget(
                title="Table: throttled requests",
                left=[
                    self.table.metric("ReadThrottleEvents", statistic="Sum"),
                    self.table.metric("WriteThrottleEvents", statistic="Sum"),
                ],
                width=12,
            ),
        )

    def _outputs(self) -> None:
        outputs = {
            "ApiUrl": cdk.Fn.sub("https://${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}/api/"),
            "TableName": self.table.table_name,
            "DocumentsBucketName": self.bucket.bucket_name,
            "UserPoolId": self.user_pool.user_pool_id,
            "UsersClientId": self.users_client.user_pool_client_id,
            "StorefrontClientId": self.storefront_client.user_pool_client_id,
            "StorefrontTokenUrl": f"{self.user_pool_domain.base_url()}/oauth2/token",
            "StorefrontScope": "ordercare/storefront",
            "OpsTopicArn": self.ops_topic.topic_arn,
            "SmsInboundTopicArn": self.sms_inbound_topic.topic_arn,
            "DashboardName": f"OrderCare-{self.config.stage}",
        }
        for env_name, secret in self.secrets.items():
            # e.g. OC_CARRIER_WEBHOOK_SECRET_ARN -> CarrierWebhookSecretArn (ARNs, not values)
            words = env_name.removeprefix("OC_").split("_")
            outputs["".join(w.capitalize() for w in words).replace("Arn", "") + "Arn"] = secret.secret_arn
        if self.config.ses_domain:
            # Easy DKIM: publish these three CNAME records in the domain's DNS.
            for n, (record, value) in enumerate(
                (
                    (self.email_identity.dkim_dns_token_name1, self.email_identity.dkim_dns_token_value1),
                    (self.email_identity.dkim_dns_token_name2, self.email_identity.dkim_dns_token_value2),
                    (self.email_identity.dkim_dns_token_name3, self.email_identity.dkim_dns_token_value3),
                ),
                start=1,
            ):
                outputs[f"SesDkimCname{n}"] = f"{record} CNAME {value}"
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)
