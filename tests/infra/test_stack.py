"""The promises of issue 9, checked on the synthesized templates (aws_cdk.assertions)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.infra.conftest import ROOT, Synthesized, optional_module

FUNCTION = "AWS::Serverless::Function"
SECRET_ENV = (
    "OC_CARRIER_WEBHOOK_SECRET_ARN",
    "OC_PAYMENT_WEBHOOK_SECRET_ARN",
    "OC_LINK_SIGNING_SECRET_ARN",
    "OC_SMS_INBOUND_SECRET_ARN",
    "OC_STRIPE_WEBHOOK_SECRET_ARN",
    "OC_AFTERSHIP_WEBHOOK_SECRET_ARN",
)
# Secret ARNs are for the app to read at runtime (Powertools parameters); every other
# OC_ variable the stack sets must be one settings.py reads.
NOT_YET_READ = set(SECRET_ENV)


def _ref(value: Any) -> str:
    assert isinstance(value, dict) and set(value) == {"Ref"}, value
    return str(value["Ref"])


def _ops_topic(synth: Synthesized) -> str:
    """The ops alerts topic (the inbound-SMS topic is the other one)."""
    (topic,) = [name for name in synth.resources("AWS::SNS::Topic") if name.startswith("OpsAlerts")]
    return topic


def _get_att(value: Any) -> str:
    assert isinstance(value, dict) and set(value) == {"Fn::GetAtt"}, value
    return str(value["Fn::GetAtt"][0])


def _env(function: dict[str, Any]) -> dict[str, Any]:
    return dict(function["Properties"]["Environment"]["Variables"])


def _alarm_targets(synth: Synthesized, metric_name: str) -> list[dict[str, Any]]:
    return [
        a
        for a in synth.resources("AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric_name
    ]


# --- the Chalice app ----------------------------------------------------------------------


def _documents_bucket(synth: Synthesized) -> tuple[str, dict[str, Any]]:
    (found,) = [(n, b) for n, b in synth.resources("AWS::S3::Bucket").items() if n.startswith("DocumentsBucket")]
    return found


def test_every_function_gets_the_app_environment(each: Synthesized) -> None:
    table, _ = each.resource("AWS::DynamoDB::Table")
    bucket, _ = _documents_bucket(each)
    secrets = set(each.resources("AWS::SecretsManager::Secret"))
    functions = each.resources(FUNCTION)
    assert functions
    for name, function in functions.items():
        env = _env(function)
        assert env["OC_ENVIRONMENT"] == "aws", name
        assert _ref(env["OC_TABLE_NAME"]) == table
        assert _ref(env["OC_DOCUMENTS_BUCKET"]) == bucket
        assert {env["OC_SHOP_COUNTRY"], env["OC_SHOP_TIMEZONE"], env["OC_SHOP_CURRENCY"]} == {
            "DE",
            "Europe/Berlin",
            "EUR",
        }
        assert env["POWERTOOLS_SERVICE_NAME"] == "ordercare"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "OrderCare"
        assert {_ref(env[key]) for key in SECRET_ENV} == secrets
        if name == "CognitoPostConfirmation":  # the pool's own trigger: naming the pool would be a cycle
            assert not {"OC_COGNITO_JWKS_URL", "OC_JWT_ISSUER", "OC_JWT_AUDIENCE"} & set(env)
            continue
        # Without a JWKS URL the app would fall back to the local HS256 secret.
        assert "jwks.json" in json.dumps(env["OC_COGNITO_JWKS_URL"])
        assert "https://cognito-idp." in json.dumps(env["OC_JWT_ISSUER"])
        audience = env["OC_JWT_AUDIENCE"]["Fn::Join"][1]  # the users client and the desk's sign-in client
        assert {_ref(client) for client in audience} <= set(each.resources("AWS::Cognito::UserPoolClient"))
        assert _ref(env["OC_STOREFRONT_CLIENT_IDS"]) in each.resources("AWS::Cognito::UserPoolClient")
        assert "OC_PUBLIC_BASE_URL" in env


def test_environment_names_are_the_ones_settings_reads(dev: Synthesized) -> None:
    source = (ROOT / "chalicelib" / "settings.py").read_text()
    read = {f"OC_{name}" for name in re.findall(r'get\(\s*"([A-Z_]+)"', source)}
    assert "OC_TABLE_NAME" in read
    for function in dev.resources(FUNCTION).values():
        ours = {name for name in _env(function) if name.startswith("OC_")}
        assert ours - NOT_YET_READ <= read, sorted(ours - NOT_YET_READ - read)


def test_the_public_base_url_comes_from_context(dev: Synthesized, prod: Synthesized) -> None:
    for function in prod.resources(FUNCTION).values():
        assert _env(function)["OC_PUBLIC_BASE_URL"] == "https://orders.shop.example.com"
    for function in dev.resources(FUNCTION).values():
        assert _env(function)["OC_PUBLIC_BASE_URL"] == ""


def test_each_function_has_its_own_role(each: Synthesized) -> None:
    assert "ordercare-replaced-per-function" not in json.dumps(each.template)  # the placeholder role
    roles = each.resources("AWS::IAM::Role")
    seen = set()
    for name, function in each.resources(FUNCTION).items():
        props = function["Properties"]
        assert "Policies" not in props  # no SAM-generated policies
        role = _get_att(props["Role"])
        assert role in roles, name
        assert role not in seen, f"{name} shares its role"
        seen.add(role)
        assert props["Tracing"] == "Active"
        log_group = _ref(props["LoggingConfig"]["LogGroup"])
        assert each.template["Resources"][log_group]["Properties"]["RetentionInDays"] > 0


DOCUMENTS_FUNCTIONS = {"DocumentIntents", "RetryDocuments"}  # the documents app's (documents/)
PDF_AND_XML = ("fpdf", "PIL", "fontTools", "lxml", "drafthorse", "pypdf")


def _asset_tops(synth: Synthesized, key: str) -> set[str]:
    """Top-level packages in a staged zip asset (a layer's python/lib/…/site-packages/ too)."""
    import zipfile

    tops = set()
    with zipfile.ZipFile(synth.path.parent / f"asset.{key}") as archive:
        for name in archive.namelist():
            parts = name.split("/")
            tops.add(parts[4] if parts[0] == "python" and len(parts) > 4 else parts[0])
    return tops


def test_dependencies_ship_in_one_layer_and_the_code_zip_stays_small(dev: Synthesized) -> None:
    each = dev  # the fixture app has no requirements, hence no layer
    layers = each.resources("AWS::Serverless::LayerVersion")
    assert set(layers) == {"ManagedLayer", "DocumentsManagedLayer"}  # the API package's, the documents one's
    assert all(d["Properties"]["CompatibleRuntimes"] == ["python3.11"] for d in layers.values())
    code_keys = set()
    for name, function in each.resources(FUNCTION).items():
        layer = "DocumentsManagedLayer" if name in DOCUMENTS_FUNCTIONS else "ManagedLayer"
        assert function["Properties"]["Layers"] == [{"Ref": layer}], name
        if name in DOCUMENTS_FUNCTIONS:
            continue
        code_keys.add(function["Properties"]["CodeUri"]["Key"])
    (code_key,) = code_keys  # one code package shared by every function of the main app
    code_zip = each.path.parent / f"asset.{code_key}"
    assert code_zip.stat().st_size < 5_000_000, "dependencies leaked into the code package"


def test_only_the_documents_package_carries_the_pdf_and_xml_libraries(dev: Synthesized) -> None:
    """Issue 19: the API (and every function that renders nothing) ships without fpdf2, Pillow,
    fontTools, lxml, drafthorse, pypdf; the documents function's own package has them."""
    functions = dev.resources(FUNCTION)
    assert set(functions) >= DOCUMENTS_FUNCTIONS
    layers = dev.resources("AWS::Serverless::LayerVersion")

    def package(layer: str, function: str) -> set[str]:
        tops = _asset_tops(dev, layers[layer]["Properties"]["ContentUri"]["Key"])
        return tops | _asset_tops(dev, functions[function]["Properties"]["CodeUri"]["Key"])

    main = package("ManagedLayer", "APIHandler")
    assert {"pydantic", "pynamodb", "chalicelib"} <= main
    assert not main & set(PDF_AND_XML), "the API package carries PDF/XML libraries"
    documents = package("DocumentsManagedLayer", "DocumentIntents")
    assert set(PDF_AND_XML) | {"chalicelib", "pynamodb"} <= documents
    assert "botocore" not in documents and "boto3" not in documents  # the runtime provides them


def test_documents_function_consumes_only_new_documents_lane_intents(dev: Synthesized) -> None:
    from chalicelib.events import STREAM_FILTERS

    mappings = [m["Properties"] for m in dev.resources("AWS::Lambda::EventSourceMapping").values()]
    (mapping,) = [m for m in mappings if '"DocumentIntents"' in json.dumps(m["FunctionName"])]
    (pattern,) = [json.loads(f["Pattern"]) for f in mapping["FilterCriteria"]["Filters"]]
    assert pattern == STREAM_FILTERS["document_intents"]
    assert pattern["eventName"] == ["INSERT"] and pattern["dynamodb"]["NewImage"]["lane"] == {"S": ["documents"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "OnFailure" in mapping["DestinationConfig"]  # a poison record goes to its failure queue
    retry = dev.template["Resources"]["RetryDocuments"]["Properties"]
    (event,) = retry["Events"].values()
    assert event["Type"] == "Schedule" and "DeadLetterConfig" in event["Properties"]


def test_api_is_regional_and_api_handler_fits_api_gateway_timeout(dev: Synthesized) -> None:
    api = dev.template["Resources"]["RestAPI"]["Properties"]
    assert "REGIONAL" in json.dumps(api["EndpointConfiguration"])
    assert dev.template["Resources"]["APIHandler"]["Properties"]["Timeout"] <= 29


# --- DynamoDB ----------------------------------------------------------------------------


def test_table_is_on_demand_with_pitr_stream_and_ttl(each: Synthesized, template_of: Any, match: Any) -> None:
    template_of(each).has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
            "TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True},
            "ProvisionedThroughput": match.absent(),
        },
    )


def test_prod_table_is_protected_and_retained(prod: Synthesized, dev: Synthesized) -> None:
    _, table = prod.resource("AWS::DynamoDB::Table")
    assert table["Properties"]["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"
    _, dev_table = dev.resource("AWS::DynamoDB::Table")
    assert not dev_table["Properties"].get("DeletionProtectionEnabled")
    assert dev_table["DeletionPolicy"] == "Delete"
    for synth in (prod, dev):
        _, pool = synth.resource("AWS::Cognito::UserPool")
        assert (pool["DeletionPolicy"] == "Retain") is (synth is prod)


# --- stream consumers --------------------------------------------------------------------


def test_real_app_has_one_mapping_per_declared_stream_consumer(dev: Synthesized) -> None:
    from chalicelib.events import STREAM_CONSUMERS

    assert len(dev.resources("AWS::Lambda::EventSourceMapping")) == len(STREAM_CONSUMERS["main"])


def test_stream_consumer_mapping_is_bounded_and_reports_partial_failures(prod: Synthesized) -> None:
    _, mapping = prod.resource("AWS::Lambda::EventSourceMapping")
    props = mapping["Properties"]
    table, _ = prod.resource("AWS::DynamoDB::Table")
    assert '"StreamMain", "Arn"' in json.dumps(props["FunctionName"])
    assert props["EventSourceArn"] == {"Fn::GetAtt": [table, "StreamArn"]}
    assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert props["BisectBatchOnFunctionError"] is True
    # A burst is spread over concurrent batches per shard, one order's records in order (the
    # app's settings: the local replayer runs with the same values).
    from chalicelib.settings import Settings

    assert props["ParallelizationFactor"] == Settings().stream_parallelization_factor > 1
    assert props.get("MaximumBatchingWindowInSeconds", 0) == Settings().stream_batching_window_seconds
    assert 0 <= props["MaximumRetryAttempts"] <= 5
    assert 0 < props["MaximumRecordAgeInSeconds"] <= 3600
    queue = _get_att(props["DestinationConfig"]["OnFailure"]["Destination"])
    queue_props = prod.template["Resources"][queue]["Properties"]
    assert queue_props["SqsManagedSseEnabled"] is True
    # Lambda validates the role's permissions when it creates the mapping.
    role = _get_att(prod.template["Resources"]["StreamMain"]["Properties"]["Role"])
    assert any(dep.startswith(role) for dep in mapping["DependsOn"])


def test_stream_consumer_role_reads_only_its_table_stream(prod: Synthesized) -> None:
    table, _ = prod.resource("AWS::DynamoDB::Table")
    role = _get_att(prod.template["Resources"]["StreamMain"]["Properties"]["Role"])
    statements = _role_statements(prod, role)
    stream_arn = {"Fn::GetAtt": [table, "StreamArn"]}
    (describe,) = [s for s in statements if "dynamodb:DescribeStream" in _as_list(s["Action"])]
    assert _as_list(describe["Resource"]) == [stream_arn]
    assert {"dynamodb:GetRecords", "dynamodb:GetShardIterator"} <= set(_as_list(describe["Action"]))
    (list_streams,) = [s for s in statements if "dynamodb:ListStreams" in _as_list(s["Action"])]
    assert json.dumps(list_streams["Resource"]).endswith('"/stream/*"]]}')
    # Other roles cannot read the stream.
    for name, function in prod.resources(FUNCTION).items():
        if name != "StreamMain":
            other = _role_statements(prod, _get_att(function["Properties"]["Role"]))
            assert stream_arn not in [r for s in other for r in _as_list(s["Resource"])], name


def test_failure_queues_alarm_to_the_ops_topic(prod: Synthesized) -> None:
    topic = _ops_topic(prod)
    queues = set(prod.resources("AWS::SQS::Queue"))
    assert len(queues) == 3  # the stream consumer's, the schedules' and inbound email's
    alarmed = set()
    for alarm in _alarm_targets(prod, "ApproximateNumberOfMessagesVisible"):
        props = alarm["Properties"]
        assert props["AlarmActions"] == [{"Ref": topic}]
        assert props["Threshold"] == 1
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        alarmed |= {_get_att(d["Value"]) for d in props["Dimensions"] if d["Name"] == "QueueName"}
    assert alarmed == queues


# --- schedules ---------------------------------------------------------------------------


def test_schedules_have_retry_policy_dead_letter_queue_and_async_failure_destination(
    prod: Synthesized,
) -> None:
    (policy_document,) = [
        p["Properties"]["PolicyDocument"]
        for p in prod.resources("AWS::SQS::QueuePolicy").values()
        if "events.amazonaws.com" in json.dumps(p)
    ]
    scheduled = {name: f for name, f in prod.resources(FUNCTION).items() if f["Properties"].get("Events")}
    assert set(scheduled) == {"SweepSla", "DispatchSurveys"}
    configs = {
        _ref(c["Properties"]["FunctionName"]): c["Properties"]
        for c in prod.resources("AWS::Lambda::EventInvokeConfig").values()
    }
    assert set(configs) == {*scheduled, "InboundEmail"}  # SES invokes inbound_email asynchronously too
    rule_names = []
    for name, function in scheduled.items():
        for event in function["Properties"]["Events"].values():
            assert event["Type"] == "Schedule"
            props = event["Properties"]
            assert props["RetryPolicy"]["MaximumRetryAttempts"] <= 5
            assert props["RetryPolicy"]["MaximumEventAgeInSeconds"] <= 3600
            dlq = _get_att(props["DeadLetterConfig"]["Arn"])
            assert prod.template["Resources"][dlq]["Type"] == "AWS::SQS::Queue"
            rule_names.append(props["Name"])
        config = configs[name]
        assert config["MaximumRetryAttempts"] <= 2
        assert _get_att(config["DestinationConfig"]["OnFailure"]["Destination"]) == dlq
    policy = json.dumps(policy_document)
    for rule_name in rule_names:
        assert f"rule/{rule_name}" in policy


# --- S3 -----------------------------------------------------------------------------------


def test_documents_bucket_is_private_encrypted_versioned_tls_only(
    each: Synthesized, template_of: Any, match: Any
) -> None:
    template = template_of(each)
    template.has_resource_properties(
        "AWS::S3::Bucket",
        {
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
            },
            "VersioningConfiguration": {"Status": "Enabled"},
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": match.array_with([match.object_like({"Status": "Enabled"})])},
        },
    )
    template.has_resource_properties(
        "AWS::S3::BucketPolicy",
        {
            "PolicyDocument": {
                "Statement": match.array_with(
                    [match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})]
                )
            }
        },
    )
    _, bucket = _documents_bucket(each)
    assert bucket["DeletionPolicy"] == "Retain"


def test_only_the_functions_that_render_documents_may_write_them(dev: Synthesized, prod: Synthesized) -> None:
    from infra.stacks.grants import grants_for

    for synth in (dev, prod):
        for name, function in synth.resources(FUNCTION).items():
            role = _get_att(function["Properties"]["Role"])
            actions = {a for s in _role_statements(synth, role) for a in _as_list(s["Action"])}
            assert ("s3:PutObject" in actions) is grants_for(name).put_documents, name
            assert ("s3:GetObject*" in actions) is grants_for(name).read_documents, name
            assert not any(a.startswith("s3:DeleteObject") for a in actions)


def test_the_grants_table_names_the_real_functions(dev: Synthesized) -> None:
    from infra.stacks.grants import FUNCTION_GRANTS, grants_for

    functions = dev.resources(FUNCTION)
    assert set(FUNCTION_GRANTS) == set(functions)
    assert {n for n in functions if grants_for(n).sms} == {"OrderEvents", "RetryNotifications", "Feedback"}
    # The schedule that freezes closed KPI periods reads and writes their snapshots in S3.
    frozen_by = {n for n in functions if grants_for(n).put_documents and grants_for(n).read_documents}
    assert "Feedback" in frozen_by


def test_each_function_gets_exactly_its_grants(each: Synthesized) -> None:
    """IAM per function: table without Scan, deletes, SES, SNS and S3 only where the code calls them."""
    from infra.stacks.grants import grants_for

    topic = _ops_topic(each)
    functions = each.resources(FUNCTION)
    for name, function in functions.items():
        grants = grants_for(name)
        statements = _role_statements(each, _get_att(function["Properties"]["Role"]))
        actions = {a for s in statements for a in _as_list(s["Action"])}
        assert "dynamodb:Scan" not in actions, name
        assert ("dynamodb:DeleteItem" in actions) is grants.deletes, name
        assert ("dynamodb:BatchWriteItem" in actions) is grants.deletes, name
        assert ("ses:SendRawEmail" in actions) is grants.email, name
        wildcard = {a for s in statements if "*" in _as_list(s["Resource"]) for a in _as_list(s["Action"])}
        # "*" only where AWS offers no resource: X-Ray, and SMS to phone numbers in the SMS senders.
        expected = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"} | ({"sns:Publish"} if grants.sms else set())
        assert wildcard == expected, name
        to_topic = [
            s
            for s in statements
            if "sns:Publish" in _as_list(s["Action"]) and {"Ref": topic} in _as_list(s["Resource"])
        ]
        assert bool(to_topic) is grants.ops_topic, name


# --- messaging, identity, secrets -----------------------------------------------------------


def test_ses_identity_uses_the_configuration_set(each: Synthesized, template_of: Any) -> None:
    config_set, _ = each.resource("AWS::SES::ConfigurationSet")
    template_of(each).has_resource_properties(
        "AWS::SES::EmailIdentity",
        {"ConfigurationSetAttributes": {"ConfigurationSetName": {"Ref": config_set}}},
    )
    _, identity = each.resource("AWS::SES::EmailIdentity")
    expected = "shop.example.com" if each.name == "prod_fixture" else "no-reply@example.com"
    assert identity["Properties"]["EmailIdentity"] == expected


def test_sms_spend_limit_is_applied_only_when_configured(dev: Synthesized, prod: Synthesized) -> None:
    assert not dev.resources("Custom::AWS")
    _, sms = prod.resource("Custom::AWS")
    assert "setSMSAttributes" in json.dumps(sms["Properties"])
    assert '\\"MonthlySpendLimit\\":\\"10\\"' in json.dumps(sms["Properties"])


def test_ops_topic_gets_the_ops_email(prod: Synthesized, template_of: Any) -> None:
    topic = _ops_topic(prod)
    template_of(prod).has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@shop.example.com", "TopicArn": {"Ref": topic}},
    )


def test_cognito_groups_resource_server_and_clients(each: Synthesized, template_of: Any, match: Any) -> None:
    template = template_of(each)
    groups = {g["Properties"]["GroupName"] for g in each.resources("AWS::Cognito::UserPoolGroup").values()}
    assert groups == {"customer", "agent", "admin"}
    template.has_resource_properties(
        "AWS::Cognito::UserPoolResourceServer",
        {"Identifier": "ordercare", "Scopes": [match.object_like({"ScopeName": "storefront"})]},
    )
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {
            "ClientName": "ordercare-storefront",
            "GenerateSecret": True,
            "AllowedOAuthFlows": ["client_credentials"],
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthScopes": [match.any_value()],
        },
    )
    storefront = next(
        c
        for c in each.resources("AWS::Cognito::UserPoolClient").values()
        if c["Properties"]["ClientName"] == "ordercare-storefront"
    )
    (scope,) = storefront["Properties"]["AllowedOAuthScopes"]
    server, resource_server = each.resource("AWS::Cognito::UserPoolResourceServer")
    assert scope == {"Fn::Join": ["", [{"Ref": server}, "/storefront"]]}  # Ref is the identifier
    assert f"{resource_server['Properties']['Identifier']}/storefront" == "ordercare/storefront"
    template.has_resource_properties(
        "AWS::Cognito::UserPoolClient",
        {"ClientName": "ordercare-users", "GenerateSecret": False, "AllowedOAuthFlows": match.absent()},
    )
    each.resource("AWS::Cognito::UserPoolDomain")  # the client-credentials token endpoint


def test_secrets_are_generated_and_readable_by_every_function(each: Synthesized) -> None:
    secrets = each.resources("AWS::SecretsManager::Secret")
    assert len(secrets) == len(SECRET_ENV)
    for secret in secrets.values():
        assert "GenerateSecretString" in secret["Properties"]
        assert "SecretString" not in secret["Properties"]
    for name, function in each.resources(FUNCTION).items():
        role = _get_att(function["Properties"]["Role"])
        readable = {
            _ref(resource)
            for statement in _role_statements(each, role)
            if "secretsmanager:GetSecretValue" in _as_list(statement["Action"])
            for resource in _as_list(statement["Resource"])
        }
        assert readable == set(secrets), name


# --- observability -------------------------------------------------------------------------


def test_every_function_alarms_on_errors_and_throttles(each: Synthesized) -> None:
    topic = _ops_topic(each)
    for metric in ("Errors", "Throttles"):
        alarmed = set()
        for alarm in _alarm_targets(each, metric):
            assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic}]
            alarmed |= {_ref(d["Value"]) for d in alarm["Properties"]["Dimensions"]}
        assert alarmed == set(each.resources(FUNCTION)), metric


@pytest.mark.parametrize(
    ("metric", "namespace"),
    [
        ("Reputation.BounceRate", "AWS/SES"),
        ("Reputation.ComplaintRate", "AWS/SES"),
        ("SlaBreaches", "OrderCare"),
        ("EInvoiceTotalsMismatch", "OrderCare"),
    ],
)
def test_business_alarms(each: Synthesized, metric: str, namespace: str) -> None:
    (alarm,) = _alarm_targets(each, metric)
    assert alarm["Properties"]["Namespace"] == namespace


def test_dashboard_shows_kpis_and_pipeline(each: Synthesized) -> None:
    _, dashboard = each.resource("AWS::CloudWatch::Dashboard")
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for needle in (
        "OrderCare",
        "OrdersPlaced",
        "SlaBreaches",
        "AWS/Lambda",
        "Errors",
        "ConsumedWriteCapacityUnits",
    ):
        assert needle in body, needle
    if each.name == "prod_fixture":
        assert "IteratorAge" in body and "ApproximateNumberOfMessagesVisible" in body


def test_api_has_a_stage_specific_name_and_a_5xx_alarm(each: Synthesized) -> None:
    stage = each.stack_name.split("-")[1]
    assert each.template["Resources"]["RestAPI"]["Properties"]["Name"] == f"ordercare-{stage}"
    (alarm,) = _alarm_targets(each, "5XXError")
    dimensions = {d["Name"]: d["Value"] for d in alarm["Properties"]["Dimensions"]}
    assert dimensions == {"ApiName": f"ordercare-{stage}", "Stage": "api"}


def test_alarms_may_publish_to_the_ops_topic(each: Synthesized) -> None:
    topic = _ops_topic(each)
    (policy,) = [
        p for p in each.resources("AWS::SNS::TopicPolicy").values() if p["Properties"]["Topics"] == [{"Ref": topic}]
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    (allow,) = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": "123456789012"}


def test_schedule_rule_names_fit_eventbridge() -> None:
    rule_name = optional_module("infra.stacks.ordercare_stack")._rule_name
    assert rule_name("OrderCare-dev-Sweep-SweepEvent") == "OrderCare-dev-Sweep-SweepEvent"
    long_a, long_b = "OrderCare-prod-" + "A" * 60 + "-1", "OrderCare-prod-" + "A" * 60 + "-2"
    assert len(rule_name(long_a)) == 64
    assert rule_name(long_a) != rule_name(long_b)


def test_outputs(each: Synthesized) -> None:
    outputs = each.template["Outputs"]
    for name in (
        "ApiUrl",
        "TableName",
        "DocumentsBucketName",
        "UserPoolId",
        "UsersClientId",
        "StorefrontClientId",
    ):
        assert name in outputs, name
    assert "execute-api" in json.dumps(outputs["ApiUrl"])
    assert "/oauth2/token" in json.dumps(outputs["StorefrontTokenUrl"])
    for name in (
        "CarrierWebhookSecretArn",
        "PaymentWebhookSecretArn",
        "LinkSigningSecretArn",
        "SmsInboundSecretArn",
        "StripeWebhookSecretArn",
        "AftershipWebhookSecretArn",
    ):
        assert set(outputs[name]["Value"]) == {"Ref"}, name
    dkim = [name for name in outputs if name.startswith("SesDkimCname")]
    assert len(dkim) == (3 if each.name == "prod_fixture" else 0)


def test_make_synth_writes_where_promised() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^synth:", makefile, re.M) and re.search(r"^deploy:", makefile, re.M)
    lock = json.loads((ROOT / "infra" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"].startswith("2.")
    assert json.loads((ROOT / "infra" / "cdk.json").read_text())["output"] == "cdk.out"
    assert Path(ROOT / "infra" / "requirements.txt").read_text().count("==") >= 3


# --- helpers ------------------------------------------------------------------------------


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_statements(synth: Synthesized, role: str) -> list[dict[str, Any]]:
    """Allow statements of a role: inline policies and AWS::IAM::Policy resources attached to it."""
    resources = synth.template["Resources"]
    documents = [p["PolicyDocument"] for p in resources[role]["Properties"].get("Policies", [])]
    for policy in synth.resources("AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"].get("Roles", []):
            documents.append(policy["Properties"]["PolicyDocument"])
    return [s for d in documents for s in d["Statement"] if s["Effect"] == "Allow"]


def test_stream_mapping_filters_on_the_order_item_type(dev: Synthesized) -> None:
    from chalicelib.events import STREAM_FILTERS

    (mapping,) = [
        m
        for m in dev.resources("AWS::Lambda::EventSourceMapping").values()
        if '"OrderEvents"' in json.dumps(m["Properties"]["FunctionName"])
    ]
    (pattern,) = [json.loads(f["Pattern"]) for f in mapping["Properties"]["FilterCriteria"]["Filters"]]
    assert pattern == STREAM_FILTERS["order_events"]
    assert pattern == {"dynamodb": {"NewImage": {"type": {"S": ["order", "ticket", "ticket_message", "return"]}}}}


def test_post_confirmation_trigger_and_sms_inbound_topic(each: Synthesized) -> None:
    """Issue 14 §6: self-signed-up users land in `customer`; SMS replies reach the API over SNS."""
    pools = each.resources("AWS::Cognito::UserPool")
    (pool,) = pools.values()
    if each.name == "dev":
        trigger = pool["Properties"]["LambdaConfig"]["PostConfirmation"]
        assert _get_att(trigger) == "CognitoPostConfirmation"
        assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
        permissions = [p["Properties"] for p in each.resources("AWS::Lambda::Permission").values()]
        assert any(p["Principal"] == "cognito-idp.amazonaws.com" for p in permissions)
    (inbound,) = [name for name in each.resources("AWS::SNS::Topic") if name.startswith("SmsInbound")]
    functions = each.resources(FUNCTION)
    api = next(f for name, f in functions.items() if name == "APIHandler")
    assert _env(api)["OC_SMS_INBOUND_TOPIC_ARNS"] == {"Ref": inbound}
    subscriptions = [s["Properties"] for s in each.resources("AWS::SNS::Subscription").values()]
    https = [s for s in subscriptions if s["Protocol"] == "https"]
    assert https and https[0]["TopicArn"] == {"Ref": inbound}
    assert "/api/v1/webhooks/sms-inbound" in json.dumps(https[0]["Endpoint"])


def test_webhook_dead_letters_alarm(each: Synthesized) -> None:
    alarms = [a for a in _alarm_targets(each, "WebhookDeadLettered")]
    assert len(alarms) == 1 and alarms[0]["Properties"]["AlarmActions"] == [{"Ref": _ops_topic(each)}]


def test_webhook_delivery_function_has_its_stream_mapping_and_failure_queue(dev: Synthesized) -> None:
    mappings = [m["Properties"] for m in dev.resources("AWS::Lambda::EventSourceMapping").values()]
    (mapping,) = [m for m in mappings if '"WebhookDeliveries"' in json.dumps(m["FunctionName"])]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert "OnFailure" in mapping["DestinationConfig"]
    alarms = [a["Properties"]["AlarmDescription"] for a in dev.resources("AWS::CloudWatch::Alarm").values()]
    assert any(d.startswith("WebhookDeliveriesStreamFailures") or "WebhookDeliveries" in d for d in alarms)
