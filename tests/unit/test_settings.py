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


def test_failed_payments_as_on_hold_webhooks_is_off_unless_asked_for(clean_env: pytest.MonkeyPatch) -> None:
    assert get_settings().webhook_payment_failed_on_hold is False
    clean_env.setenv("OC_WEBHOOK_PAYMENT_FAILED_ON_HOLD", "true")
    reset_settings()
    assert get_settings().webhook_payment_failed_on_hold is True
    clean_env.setenv("OC_WEBHOOK_PAYMENT_FAILED_ON_HOLD", "maybe")
    reset_settings()
    with pytest.raises(ValueError, match="true or false"):
        get_settings()


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


def test_a_rotated_link_secret_reaches_the_container_within_the_cache_window(clean_env: pytest.MonkeyPatch) -> None:
    """The container is built once, yet emailed links and list cursors sign with the rotated secret."""
    import time

    from aws_lambda_powertools.utilities import parameters

    from chalicelib.bootstrap import get_container, reset_container
    from chalicelib.presentation.links import order_id_from_token

    clean_env.setenv("OC_ENVIRONMENT", "aws")
    parameters.clear_caches()
    try:
        with mock_aws():
            client = boto3.client("secretsmanager")
            arns = {}
            for field, variable in SECRET_ARN_VARIABLES.items():
                arns[field] = client.create_secret(Name=field, SecretString=f"{field}-first")["ARN"]
                clean_env.setenv(variable, arns[field])
            container = get_container()
            link = container.notifications.tracking_url
            first = link("ord_1").rsplit("/", 1)[1]
            client.put_secret_value(SecretId=arns["link_secrets"], SecretString="rotated")
            assert link("ord_1").rsplit("/", 1)[1] == first  # still inside the cache window
            parameters.clear_caches()  # the window (SECRETS_MAX_AGE_SECONDS) has passed
            rotated = link("ord_1").rsplit("/", 1)[1]
            assert get_container() is container and container.settings.link_secrets == ("rotated",)
            assert container.orders.cursors.secrets() == ("rotated",)
    finally:
        parameters.clear_caches()
        reset_container()
    assert order_id_from_token(rotated, ("rotated",), now=time.time()) == "ord_1"
    assert order_id_from_token(first, ("rotated",), now=time.time()) is None
