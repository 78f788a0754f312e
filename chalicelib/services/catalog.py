"""Catalogue and checkout use cases: upsert/read items, quote a delivery promise."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime

from chalicelib.domain.calendar import BusinessCalendar, Promise
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import NotFoundError, ValidationError
from chalicelib.services.ports import CatalogRepository, Clock

# Any sensible checkout moment, past or future (the storefront may quote for a given
# day); the bounds only keep the calendar arithmetic far from datetime's limits.
EARLIEST_ESTIMATE = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_ESTIMATE = datetime(2100, 1, 1, tzinfo=UTC)


@dataclass
class CatalogService:
    catalog: CatalogRepository
    clock: Clock

    def upsert(self, item: CatalogItem) -> CatalogItem:
        stamped = replace(item, updated_at=self.clock.now())
        self.catalog.put(stamped)
        return stamped

    def get(self, sku: str) -> CatalogItem:
        item = self.catalog.get(sku)
        if item is None:
            raise NotFoundError(f"SKU '{sku}' is not in the catalogue")
        return item


@dataclass
class DeliveryEstimator:
    calendar: BusinessCalendar
    clock: Clock
    supported_countries: tuple[str, ...]

    def estimate(self, shipping_method: str, country: str, at: datetime | None) -> tuple[date, Promise]:
        """The promise the storefront shows at checkout, assuming payment at `at` (default now)."""
        if country not in self.supported_countries:
            raise ValidationError(
                f"the shop does not ship to '{country}'",
                details=[{"field": "country", "supported": list(self.supported_countries)}],
                code="unsupported_country",
            )
        moment = at or self.clock.now()
        if not EARLIEST_ESTIMATE <= moment <= LATEST_ESTIMATE:
            raise ValidationError(
                "`at` must lie between 2000 and 2100",
                details=[{"field": "at"}],
                code="validation_error",
            )
        return self.calendar.start_day(moment), self.calendar.promise(moment, shipping_method)
