"""Least privilege: no wildcard resources on data services, no wildcard actions, anywhere in the template."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tests.infra.conftest import Synthesized

DATA_SERVICES = ("dynamodb:", "s3:", "ses:", "sqs:")


def _documents(value: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every policy document (a dict with a Statement) anywhere in the template, with where it is."""
    if isinstance(value, dict):
        if "Statement" in value and isinstance(value["Statement"], list):
            yield path, value
        for key, inner in value.items():
            yield from _documents(inner, f"{path}/{key}")
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _documents(inner, f"{path}[{i}]")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _wildcard(resource: Any) -> bool:
    """`*`, or an ARN whose account, region or resource part is only a wildcard."""
    if not isinstance(resource, str):
        return False  # an intrinsic function naming a resource of the stack
    if resource == "*":
        return True
    parts = resource.split(":", 5)
    return len(parts) == 6 and parts[5] in ("*", "/*", "table/*", "identity/*")


def violations(template: dict[str, Any]) -> list[str]:
    found = []
    for where, document in _documents(template["Resources"]):
        for statement in document["Statement"]:
            if statement.get("Effect") != "Allow":
                continue  # a Deny may be as broad as it likes (e.g. TLS-only bucket policy)
            if "NotAction" in statement or "NotResource" in statement:
                found.append(f"{where}: NotAction/NotResource in an Allow")
            actions = [a for a in _as_list(statement.get("Action", [])) if isinstance(a, str)]
            if "*" in actions or any(a.endswith(":*") for a in actions if a.startswith(DATA_SERVICES)):
                found.append(f"{where}: wildcard action {actions}")
            if "AssumeRolePolicyDocument" in where:
                continue
            data_actions = [a for a in actions if a.lower().startswith(DATA_SERVICES)]
            wild = [r for r in _as_list(statement.get("Resource", [])) if _wildcard(r)]
            if data_actions and wild:
                found.append(f"{where}: {data_actions} on {wild}")
    return found


def test_template_has_policies_to_check(each: Synthesized) -> None:
    documents = list(_documents(each.template["Resources"]))
    assert len(documents) >= 4


def test_no_wildcards_on_data_services(each: Synthesized) -> None:
    assert violations(each.template) == []


def test_the_checker_catches_wildcards() -> None:
    def template(statement: dict[str, Any]) -> dict[str, Any]:
        return {
            "Resources": {
                "P": {
                    "Type": "AWS::IAM::Policy",
                    "Properties": {"PolicyDocument": {"Statement": [statement]}},
                }
            }
        }

    bad: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"},
        {"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::*"]},
        {"Effect": "Allow", "Action": "ses:SendEmail", "Resource": "arn:aws:ses:eu-central-1:1:identity/*"},
        {"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"},
        {"Effect": "Allow", "Action": "*", "Resource": {"Ref": "X"}},
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": {"Ref": "X"}},
        {"Effect": "Allow", "NotAction": "iam:*", "Resource": {"Ref": "X"}},
    ]
    for statement in bad:
        assert violations(template(statement)), statement
    good: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": "xray:PutTraceSegments", "Resource": "*"},
        {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": {"Fn::GetAtt": ["T", "Arn"]}},
        {"Effect": "Deny", "Action": "s3:*", "Resource": "*"},
    ]
    for statement in good:
        assert not violations(template(statement)), statement
