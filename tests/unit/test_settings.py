"""Settings: environment parsing, and secrets from Secrets Manager outside the local stack."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from chalicelib.settings import SECRET_ARN_VARIABLES, ConfigurationError, Settings, get_settings, reset_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    import os

    for name in list(os.environ):
        if name.startswith("OC_") or name.endswith("_SECRET"):
            monkeypatch.delenv(name)
    reset_settings()
    yield monkeypatch
    reset_settings()


def test_local_defaults_and_overrides(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OC_TRANSIT_BUSINESS_DAYS", "standard=4, express=1,overnight=0")
    clean_env.setenv("CARRIER_WEBHOOK_SECRET", "new, old")
    settings = get_settings()
    assert settings.is_local and settings.shop_country == "DE" and settings.cutoff_hour == 14
    assert settings.transit_business_days == {"standard": 4, "express": 1, "overnight": 0}
    assert settings.carrier_webhook_secrets == ("new", "old")


def test_aws_refuses_to_fall_back_to_public_default_secrets(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OC_ENVIRONMENT", "aws")
    with pytest.raises(ConfigurationError, match="OC_CARRIER_WEBHOOK_SECRET_ARN"):
        get_settings()


def test_aws_reads_secrets_from_secrets_manager(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("OC_ENVIRONMENT", "aws")
    with mock_aws():
        client = boto3.client("secretsmanager")
        for field, variable in SECRET_ARN_VARIABLES.items():
            arn = client.create_secret(Name=field, SecretString=f"{field}-current,{field}-previous")["ARN"]
            clean_env.setenv(variable, arn)
        settings = get_settings()
    assert settings.carrier_webhook_secrets == ("carrier_webhook_secrets-current", "carrier_webhook_secrets-previous")
    assert settings.link_secrets[0] == "link_secrets-current"
    assert settings.sms_inbound_secrets[1] == "sms_inbound_secrets-previous"
    assert Settings().carrier_webhook_secrets != settings.carrier_webhook_secrets
