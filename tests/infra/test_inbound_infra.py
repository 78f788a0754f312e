"""Email in and the desk's sign-in, checked on the synthesized templates."""

from __future__ import annotations

import json
from typing import Any

from tests.infra.conftest import Synthesized


def _function_env(synth: Synthesized, name: str) -> dict[str, Any]:
    return dict(synth.resources("AWS::Serverless::Function")[name]["Properties"]["Environment"]["Variables"])


def test_ses_receipt_rule_stores_in_s3_then_invokes_inbound_email(each: Synthesized) -> None:
    (rule,) = each.resources("AWS::SES::ReceiptRule").values()
    props = rule["Properties"]["Rule"]
    assert props["Enabled"] and props["ScanEnabled"] and props["TlsPolicy"] == "Require"
    assert props["Recipients"] == [_function_env(each, "InboundEmail")["OC_REPLY_DOMAIN"]]
    s3_action, lambda_action = (action for action in props["Actions"])
    assert s3_action["S3Action"]["ObjectKeyPrefix"] == "inbound/ses/"
    assert s3_action["S3Action"]["BucketName"] == {"Ref": next(iter(_buckets(each)))}
    assert lambda_action["LambdaAction"]["InvocationType"] == "Event"
    assert "InboundEmail" in json.dumps(lambda_action["LambdaAction"]["FunctionArn"])
    permissions = [p["Properties"] for p in each.resources("AWS::Lambda::Permission").values()]
    assert any(p["Principal"] == "ses.amazonaws.com" and "InboundEmail" in json.dumps(p) for p in permissions)


def _buckets(synth: Synthesized) -> dict[str, Any]:
    return {name: b for name, b in synth.resources("AWS::S3::Bucket").items() if name.startswith("InboundMailBucket")}


def test_inbound_email_retries_then_lands_in_its_failure_queue(each: Synthesized) -> None:
    configs = [
        c["Properties"]
        for c in each.resources("AWS::Lambda::EventInvokeConfig").values()
        if c["Properties"]["FunctionName"] == {"Ref": "InboundEmail"}
    ]
    (config,) = configs
    assert config["MaximumRetryAttempts"] <= 2
    queue = config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert each.template["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    alarms = [a for a in each.resources("AWS::CloudWatch::Alarm").values() if queue in json.dumps(a)]
    assert alarms, "a message in the inbound failure queue must page operations"


def test_inbound_bucket_is_private_encrypted_and_ses_may_write_only_there(each: Synthesized) -> None:
    ((name, bucket),) = _buckets(each).items()
    props = bucket["Properties"]
    assert props["PublicAccessBlockConfiguration"]["BlockPublicPolicy"] is True
    encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    policies = [
        p["Properties"]
        for p in each.resources("AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": name}
    ]
    text = json.dumps(policies)
    assert "ses.amazonaws.com" in text and "aws:SecureTransport" in text


def test_desk_signs_in_with_the_hosted_ui_and_pkce(each: Synthesized) -> None:
    desk = next(
        c["Properties"]
        for c in each.resources("AWS::Cognito::UserPoolClient").values()
        if c["Properties"].get("ClientName") == "ordercare-desk"
    )
    assert desk["GenerateSecret"] is False  # a public client: PKCE, no secret in the browser
    assert desk["AllowedOAuthFlows"] == ["code"]
    assert all(url.endswith("/desk/callback") for url in desk["CallbackURLs"])
    env = _function_env(each, "APIHandler")
    assert {"OC_COGNITO_DOMAIN", "OC_DESK_CLIENT_ID", "OC_INBOUND_BUCKET", "OC_REPLY_DOMAIN"} <= set(env)
    assert "Fn::Join" in env["OC_JWT_AUDIENCE"]  # the users client and the desk client
