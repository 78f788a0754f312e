"""Request and response models: what the API validates with and what /openapi.json shows.

One module per area (common holds the building blocks). Routes name their models ("PlaceOrderIn");
`from chalicelib.api.schemas import X` and the route resolver import only X's area module, so the
first request that parses a body builds its own area's models, not all of them (cold start), and
/openapi.json, which asks for every route's models, imports every area.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names for mypy; at run time __getattr__ imports them on demand
    from chalicelib.api.schemas.catalog import *  # noqa: F403
    from chalicelib.api.schemas.common import *  # noqa: F403
    from chalicelib.api.schemas.faults import *  # noqa: F403
    from chalicelib.api.schemas.feedback import *  # noqa: F403
    from chalicelib.api.schemas.notifications import *  # noqa: F403
    from chalicelib.api.schemas.orders import *  # noqa: F403
    from chalicelib.api.schemas.returns import *  # noqa: F403
    from chalicelib.api.schemas.webhooks import *  # noqa: F403

# Each public name and the area module that defines it (tests/unit/test_schema_areas.py keeps it true).
AREAS: dict[str, tuple[str, ...]] = {
    "common": (
        "Money",
        "Sku",
        "CustomerId",
        "NOT_MONEY",
        "Currency",
        "Country",
        "Text",
        "Timestamp",
        "Email",
        "VatId",
        "Phone",
        "Out",
        "Strict",
        "EventId",
        "Moment",
        "Health",
        "ErrorBody",
        "ErrorOut",
    ),
    "catalog": (
        "CatalogItemIn",
        "DeliveryEstimateIn",
        "CatalogItemOut",
        "DeliveryEstimateOut",
    ),
    "orders": (
        "CustomerIn",
        "LineIn",
        "AddressIn",
        "DiscountIn",
        "PlaceOrderIn",
        "PaymentIn",
        "CancelIn",
        "ReleaseHoldIn",
        "ShipmentLineIn",
        "ShipmentIn",
        "LineOut",
        "HoldOut",
        "TaxOut",
        "CustomerOut",
        "AddressOut",
        "DiscountOut",
        "SlaOut",
        "OrderOut",
        "TimelineEntryOut",
        "TimelineOut",
        "DocumentOut",
        "DocumentListOut",
        "ShipmentEventOut",
        "ShipmentOut",
        "PaymentOut",
        "RefundOut",
        "OrderListOut",
    ),
    "returns": (
        "ReturnReason",
        "ReturnLineIn",
        "ReturnIn",
        "RejectReturnIn",
        "CancelReturnIn",
        "ReceivedLineIn",
        "ReceiveReturnIn",
        "ReturnLineOut",
        "ReturnTransitionOut",
        "ReturnHoldOut",
        "ReturnOut",
        "ReturnListOut",
    ),
    "webhooks": (
        "CarrierStatus",
        "CARRIER_STATUS_HELP",
        "CarrierWebhookIn",
        "PaymentWebhookIn",
        "WebhookAck",
        "WebhookSubscriptionIn",
        "WebhookSubscriptionOut",
        "WebhookAttemptOut",
        "WebhookDeliveryOut",
        "WebhookDeliveryListOut",
    ),
    "notifications": (
        "PreferencesIn",
        "SmsInboundIn",
        "SnsDelivery",
        "SmsInboundBody",
        "PreferencesOut",
        "SmsInboundOut",
    ),
    "faults": (
        "FaultIn",
        "FaultOut",
        "FaultsOut",
        "FaultsCleared",
    ),
    "feedback": (
        "Score",
        "SurveyAspects",
        "SurveyAnswerIn",
        "SurveyAnswerOut",
        "FeedbackIn",
        "ExternalFeedbackIn",
        "FeedbackOut",
        "KpiOut",
        "KpiReportOut",
        "KpiMissOut",
        "KpiMissesOut",
    ),
}
_HOME = {name: area for area, names in AREAS.items() for name in names}


if not TYPE_CHECKING:  # hidden from mypy, which would otherwise type any misspelt name as Any

    def __getattr__(name: str) -> Any:
        area = _HOME.get(name)
        if area is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{__name__}.{area}"), name)
        globals()[name] = value  # the next lookup skips __getattr__
        return value
