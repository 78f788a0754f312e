"""The Cognito post-confirmation trigger puts self-signed-up users into `customer` (moto cognito-idp)."""

from __future__ import annotations

import boto3
from moto import mock_aws

from local.lambda_runtime import LambdaContext


def _event(pool_id: str, source: str) -> dict[str, object]:
    return {
        "version": "1",
        "region": "eu-central-1",
        "userPoolId": pool_id,
        "userName": "alice",
        "triggerSource": source,
        "request": {"userAttributes": {"email": "alice@example.com", "email_verified": "true"}},
        "response": {},
    }


def test_confirmed_sign_up_joins_the_customer_group(settings_env: None) -> None:
    from app import cognito_post_confirmation

    with mock_aws():
        client = boto3.client("cognito-idp")
        pool_id = client.create_user_pool(PoolName="ordercare-test")["UserPool"]["Id"]
        for group in ("admin", "agent", "customer"):
            client.create_group(GroupName=group, UserPoolId=pool_id)
        client.admin_create_user(UserPoolId=pool_id, Username="alice")
        event = _event(pool_id, "PostConfirmation_ConfirmForgotPassword")
        assert cognito_post_confirmation(event, LambdaContext("cognito_post_confirmation")) == event
        assert client.admin_list_groups_for_user(UserPoolId=pool_id, Username="alice")["Groups"] == []
        event = _event(pool_id, "PostConfirmation_ConfirmSignUp")
        assert cognito_post_confirmation(event, LambdaContext("cognito_post_confirmation")) == event
        groups = client.admin_list_groups_for_user(UserPoolId=pool_id, Username="alice")["Groups"]
        assert [g["GroupName"] for g in groups] == ["customer"]
