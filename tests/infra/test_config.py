"""StageConfig: context parsing and validation (no synth)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.stacks.config import ConfigError, StageConfig


class FakeNode:
    def __init__(self, **context: Any) -> None:
        self.context = context

    def try_get_context(self, key: str) -> Any:
        return self.context.get(key)


def test_defaults_are_a_dev_stage_that_synthesizes_offline() -> None:
    config = StageConfig.from_context(FakeNode())
    assert config.stage == "dev"
    assert config.stack_name == "OrderCare-dev"
    assert not config.is_prod
    assert config.ses_identity == config.ses_sender


def test_context_values_are_read_and_typed() -> None:
    config = StageConfig.from_context(
        FakeNode(
            stage="prod",
            ses_domain="shop.example.com",
            ses_sender="orders@shop.example.com",
            lambda_memory_mb="1024",
            unrelated="ignored",
        )
    )
    assert config.is_prod
    assert config.stack_name == "OrderCare-prod"
    assert config.lambda_memory_mb == 1024
    assert config.ses_identity == "shop.example.com"
    assert config.log_retention_days == 90


@pytest.mark.parametrize(
    "context",
    [
        {"stage": "staging"},
        {"ses_domain": "not a domain"},
        {"ses_sender": "nobody"},
        {"ses_domain": "shop.example.com", "ses_sender": "orders@other.example.com"},
        {"ops_email": "ops"},
        {"public_base_url": "http://insecure.example.com"},
        {"sms_monthly_spend_limit": "ten"},
        {"webhook_payment_failed_on_hold": "yes please"},
        {"shop_country": "US"},  # the package ships the shipping countries' holidays only
    ],
)
def test_invalid_context_is_rejected(context: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        StageConfig.from_context(FakeNode(**context))


def test_stream_mappings_default_to_the_apps_settings_and_are_bounded() -> None:
    from chalicelib.settings import Settings

    config = StageConfig.from_context(FakeNode())
    assert config.stream_parallelization_factor == Settings().stream_parallelization_factor
    assert config.stream_batching_window_seconds == Settings().stream_batching_window_seconds
    tuned = StageConfig.from_context(FakeNode(stream_parallelization_factor="10", stream_batching_window_seconds="2"))
    assert (tuned.stream_parallelization_factor, tuned.stream_batching_window_seconds) == (10, 2)
    with pytest.raises(ConfigError, match="stream_parallelization_factor"):
        StageConfig.from_context(FakeNode(stream_parallelization_factor="11"))
    with pytest.raises(ConfigError, match="stream_batching_window_seconds"):
        StageConfig.from_context(FakeNode(stream_batching_window_seconds="301"))
