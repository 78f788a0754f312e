"""Money arithmetic: integer minor units only, and every rounding rule in one place.

Prices are net; tax is added per tax rate. Discounts and shipping are spread
over the tax rates in proportion to the goods value at each rate (EU practice:
shipping follows the goods it carries); every split uses the largest-remainder
method so the parts add up to the whole to the cent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BASIS_POINTS = 10_000


# ISO 4217 minor-unit exponents that are not 2.
_EXPONENTS = {
    **dict.fromkeys(
        (
            "BIF",
            "CLP",
            "DJF",
            "GNF",
            "ISK",
            "JPY",
            "KMF",
            "KRW",
            "PYG",
            "RWF",
            "UGX",
            "VND",
            "VUV",
            "XAF",
            "XOF",
            "XPF",
        ),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def exponent(currency: str) -> int:
    """Digits after the decimal point in `currency` (ISO 4217 minor units; 2 unless listed)."""
    return _EXPONENTS.get(currency, 2)


def format_minor(amount: int, currency: str) -> str:
    """12345, "EUR" → "123.45 EUR": minor units made readable (for texts, not for arithmetic)."""
    digits = exponent(currency)
    sign, units = ("-" if amount < 0 else ""), abs(amount)
    if digits == 0:
        return f"{sign}{units} {currency}"
    whole, fraction = divmod(units, 10**digits)
    return f"{sign}{whole}.{fraction:0{digits}d} {currency}"


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half away from zero, in integers (no floats)."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return sign * quotient


def allocate(amount: int, weights: Sequence[int]) -> list[int]:
    """Split `amount` in proportion to `weights`; the parts always sum to `amount`.

    Largest-remainder method; ties go to the earlier weight, so the result is deterministic.
    """
    if amount < 0:
        return [-part for part in allocate(-amount, weights)]
    total = sum(weights)
    if not weights:
        if amount:
            raise ValueError("cannot allocate a non-zero amount over nothing")
        return []
    if total <= 0:
        # Nothing to weigh by: split evenly.
        weights, total = [1] * len(weights), len(weights)
    shares = [amount * weight // total for weight in weights]
    remainders = [amount * weight % total for weight in weights]
    leftover = amount - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:leftover]:
        shares[index] += 1
    return shares


def tax_for(net: int, rate_bps: int) -> int:
    """Tax on a net amount at a rate in basis points (1900 = 19 %)."""
    return round_half_up(net * rate_bps, BASIS_POINTS)


@dataclass(frozen=True)
class PricedLine:
    sku: str
    quantity: int
    unit_price: int
    tax_rate_bps: int

    @property
    def line_total(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class TaxBreakdown:
    rate_bps: int
    net: int
    tax: int


@dataclass(frozen=True)
class Totals:
    subtotal: int
    discount_total: int
    shipping_fee: int
    tax_total: int
    total: int
    taxes: tuple[TaxBreakdown, ...]


def compute_totals(lines: Sequence[PricedLine], discount_total: int, shipping_fee: int) -> Totals:
    """Totals of an order: total = subtotal − discount_total + shipping_fee + tax_total."""
    if discount_total < 0 or shipping_fee < 0:
        raise ValueError("discounts and shipping fee are non-negative amounts")
    subtotal = sum(line.line_total for line in lines)
    if discount_total > subtotal:
        raise ValueError("discounts exceed the subtotal")
    # Split per tax rate (not per line): each rate then gets its exact share to
    # within a cent, however many lines it has.
    gross_by_rate: dict[int, int] = {}
    for line in lines:
        gross_by_rate[line.tax_rate_bps] = gross_by_rate.get(line.tax_rate_bps, 0) + line.line_total
    rates = sorted(gross_by_rate)
    gross = [gross_by_rate[rate] for rate in rates]
    discounts = allocate(discount_total, gross)
    shipping = allocate(shipping_fee, gross)
    nets = [value - off + ship for value, off, ship in zip(gross, discounts, shipping, strict=True)]
    taxes = tuple(TaxBreakdown(rate, net, tax_for(net, rate)) for rate, net in zip(rates, nets, strict=True))
    tax_total = sum(item.tax for item in taxes)
    return Totals(
        subtotal=subtotal,
        discount_total=discount_total,
        shipping_fee=shipping_fee,
        tax_total=tax_total,
        total=subtotal - discount_total + shipping_fee + tax_total,
        taxes=taxes,
    )
