"""What each function may do: exactly the calls its code makes (QUALITY.md: IAM per function).

Keyed by the function's CloudFormation logical id (Chalice: `to_cfn_resource_name(name)`;
`APIHandler` is the REST API). A function not listed here gets the least: the table
without deletes, nothing else. Keep this in step when a function starts calling something new.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Grants:
    deletes: bool = False  # DeleteItem / BatchWriteItem (timers, sessions, ticket queue entries)
    read_documents: bool = False  # S3 GetObject: presigned downloads, email attachments
    put_documents: bool = False  # S3 PutObject: rendering invoices, receipts, credit notes
    email: bool = False  # SES SendEmail / SendRawEmail from the shop's identity
    sms: bool = False  # SNS Publish to phone numbers (no resource to name: "*", by AWS's design)
    ops_topic: bool = False  # SNS Publish to the operations topic, by ARN


FUNCTION_GRANTS: dict[str, Grants] = {
    # Routes: portal sign-in codes are emailed at once; sign-out and ticket moves delete items.
    "APIHandler": Grants(deletes=True, read_documents=True, email=True),
    # The stream consumer: SLA timers (batch writes and deletes), every effect's first attempt but the
    # documents' (the documents function renders and stores them): it writes no document.
    "OrderEvents": Grants(deletes=True, read_documents=True, email=True, sms=True, ops_topic=True),
    # Flags due deadlines (the stream then tells people): timers are deleted as they are acted on.
    "SlaSweep": Grants(deletes=True),
    # Inbound email: raw mail read from S3, attachments written back, receipts sent, rate-limit entries.
    "InboundEmail": Grants(deletes=True, read_documents=True, put_documents=True, email=True),
    # Surveys (message intents, email or SMS, first attempt here) and KPI freezes (due entries deleted;
    # a closed period's report is read back and, when absent, written to the documents bucket).
    "Feedback": Grants(deletes=True, read_documents=True, put_documents=True, email=True, sms=True),
    # Outbound webhooks: the first attempt of each new delivery (the table only; HTTP to the receivers).
    "WebhookDeliveries": Grants(),
    # Cognito's post-confirmation trigger: cognito-idp:AdminAddUserToGroup only (granted in the stack).
    "CognitoPostConfirmation": Grants(),
    # Finishes every due intent of the main lane: emails (with their stored PDFs), SMS, escalations.
    "RetryNotifications": Grants(read_documents=True, email=True, sms=True, ops_topic=True),
    # The documents function (its own package): renders and stores invoices, receipts, credit notes,
    # then sends the emails that wait for them (PDFs attached: read back from S3).
    "DocumentIntents": Grants(read_documents=True, put_documents=True, email=True),
    # ... and its retry schedule: documents left pending by an outage, then their emails.
    "RetryDocuments": Grants(read_documents=True, put_documents=True, email=True),
}

TABLE_ACTIONS = (
    "dynamodb:BatchGetItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Query",
    "dynamodb:UpdateItem",
)
DELETE_ACTIONS = ("dynamodb:BatchWriteItem", "dynamodb:DeleteItem")


def grants_for(logical_id: str) -> Grants:
    return FUNCTION_GRANTS.get(logical_id, Grants())
