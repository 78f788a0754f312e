"""Cognito user pool administration (the post-confirmation trigger)."""

from __future__ import annotations

from typing import Any

CUSTOMER_GROUP = "customer"


def add_to_group(user_pool_id: str, username: str, group: str, client: Any = None) -> None:
    import boto3

    client = client or boto3.client("cognito-idp")
    client.admin_add_user_to_group(UserPoolId=user_pool_id, Username=username, GroupName=group)


def post_confirmation(event: dict[str, Any], client: Any = None) -> dict[str, Any]:
    """Cognito's PostConfirmation trigger: a self-signed-up user becomes a `customer`.

    Only the sign-up confirmation (not a forgotten-password confirmation) adds the group;
    Cognito expects the event back unchanged."""
    if event.get("triggerSource") == "PostConfirmation_ConfirmSignUp":
        add_to_group(str(event["userPoolId"]), str(event["userName"]), CUSTOMER_GROUP, client)
    return event
