"""Catalogue and checkout use cases: upsert/read items, quote a delivery promise."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from chalicelib.domain.calendar import BusinessCalendar, Promise
from chalicelib.domain.catalog import CatalogItem
from chalicelib.domain.errors import NotFoundError, ValidationError
from chalicelib.services.ports import CatalogRepository, Clock


MAX_ESTIMATE_PAST = timedelta(days=1)
MAX_ESTIMATE_AHEAD = timedelta(days=366)


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
        now = self.clock.now()
        moment = at or now
        if not now - MAX_ESTIMATE_PAST <= moment <= now + MAX_ESTIMATE_AHEAD:
            raise ValidationError(
                "`at` must lie between a day ago and a year ahead",
                details=[{"field": "at"}],
                code="validation_error",
            )
        return self.calendar.start_day(moment), self.calendar.promise(moment, shipping_method)
