"""PDF rendering of invoices, receipts and credit notes with fpdf2 and the bundled DejaVu Sans.

fpdf2, fontTools and Babel are imported on the first render only (never at `import app`).
Output is deterministic: the PDF's dates come from the document's issue date,
its /ID is a hash of the content, and nothing random or clock-dependent is written,
so the same document always renders to the same bytes.

Invoices and credit notes rendered with their e-invoice XML (`xml=`) are
Factur-X documents: PDF/A-3B (fpdf2's compliance mode: sRGB output intent,
no document info dictionary), the CII XML embedded as `factur-x.xml`
(AFRelationship Alternative) and drafthorse's Factur-X XMP metadata
declaring PDF/A-3B and the EN 16931 conformance level. Still deterministic:
the XMP's dates are the document's issue time.

Characters the font lacks never fail a render: they print as "?" (fpdf2 would
draw an empty box and log a warning), control characters are dropped.
"""

from __future__ import annotations

import collections
import functools
import io
import logging
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chalicelib.documents.einvoice import XML_FILENAME, EInvoiceOptions, xmp_metadata
from chalicelib.documents.invoice import CreditNote, Document, Invoice, Party, Receipt, Row, TaxLine
from chalicelib.domain.order_numbers import legacy_reference
from chalicelib.presentation.formatting import Localizer, payment_method

if TYPE_CHECKING:
    from fpdf import FPDF

FONTS = Path(__file__).parent / "fonts"
FONT_FILES = {"": FONTS / "DejaVuSans.ttf", "B": FONTS / "DejaVuSans-Bold.ttf"}
FAMILY = "dejavu"
PAPER_SIZES = {"A4": "A4", "Letter": "Letter"}
REPLACEMENT = "?"
PT = 25.4 / 72  # millimetres per point

# fontTools logs every subset at INFO, glyph lists included: a render is not news in the function's logs.
logging.getLogger("fontTools.subset").setLevel(logging.WARNING)

MARGIN = 18.0
INK = (33, 37, 41)
MUTED = (108, 117, 125)
RULE = (206, 212, 218)
SHADE = (241, 243, 245)
ACCENT = (29, 78, 137)

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "receipt": "Payment receipt",
        "credit_note": "Credit note",
        "invoice_no": "Invoice no.",
        "receipt_no": "Receipt no.",
        "credit_note_no": "Credit note no.",
        "date": "Date",
        "order_no": "Order no.",
        "refers_to": "Refers to invoice",
        "bill_to": "Bill to",
        "received_from": "Received from",
        "credited_to": "Credited to",
        "sku": "SKU",
        "description": "Description",
        "qty": "Qty",
        "unit_price": "Unit price",
        "vat": "VAT",
        "net": "Net",
        "vat_amount": "VAT amount",
        "discount": "Discount",
        "shipping": "Shipping",
        "refund": "Refund",
        "subtotal": "Subtotal",
        "discounts": "Discounts",
        "net_total": "Net total",
        "vat_on": "VAT {rate} on {net}",
        "total": "Total",
        "total_credited": "Total credited",
        "amount_paid": "Amount paid",
        "method": "Payment method",
        "provider_ref": "Payment reference",
        "paid_at": "Paid at",
        "refund_ref": "Refund reference",
        "vat_id": "VAT ID",
        "page": "Page {page} of {pages}",
        "paid_note": "Paid in full by {method}. Thank you for your order.",
        "receipt_note": "We confirm receipt of this payment for order {order}{invoice}.",
        "receipt_invoice": ", invoice {invoice}",
        "credit_full": "This credit note cancels invoice {invoice} in full.",
        "credit_part": "This credit note credits part of invoice {invoice} (refund {ref}).",
        "currency_note": "All amounts in {currency}.",
        "delivery_date": "Delivery date",
        "buyer_reference": "Buyer reference",
        "ship_to": "Deliver to",
        "exemption": "VAT exemption: {reason}",
        "contact": "Attn. {name}",
    },
    "de": {
        "invoice": "Rechnung",
        "receipt": "Zahlungsbestätigung",
        "credit_note": "Gutschrift",
        "invoice_no": "Rechnungsnr.",
        "receipt_no": "Belegnr.",
        "credit_note_no": "Gutschriftnr.",
        "date": "Datum",
        "order_no": "Bestellnr.",
        "refers_to": "Zur Rechnung",
        "bill_to": "Rechnungsempfänger",
        "received_from": "Zahlung von",
        "credited_to": "Gutschrift an",
        "sku": "Art.-Nr.",
        "description": "Beschreibung",
        "qty": "Menge",
        "unit_price": "Einzelpreis",
        "vat": "USt.",
        "net": "Netto",
        "vat_amount": "USt.-Betrag",
        "discount": "Rabatt",
        "shipping": "Versand",
        "refund": "Erstattung",
        "subtotal": "Zwischensumme",
        "discounts": "Rabatte",
        "net_total": "Summe netto",
        "vat_on": "USt. {rate} auf {net}",
        "total": "Gesamtbetrag",
        "total_credited": "Gutschriftbetrag",
        "amount_paid": "Gezahlter Betrag",
        "method": "Zahlungsart",
        "provider_ref": "Zahlungsreferenz",
        "paid_at": "Bezahlt am",
        "refund_ref": "Erstattungsreferenz",
        "vat_id": "USt-IdNr.",
        "page": "Seite {page} von {pages}",
        "paid_note": "Vollständig bezahlt per {method}. Vielen Dank für Ihre Bestellung.",
        "receipt_note": "Wir bestätigen den Eingang dieser Zahlung für Bestellung {order}{invoice}.",
        "receipt_invoice": ", Rechnung {invoice}",
        "credit_full": "Diese Gutschrift storniert die Rechnung {invoice} vollständig.",
        "credit_part": "Diese Gutschrift erstattet einen Teil der Rechnung {invoice} (Erstattung {ref}).",
        "currency_note": "Alle Beträge in {currency}.",
        "delivery_date": "Lieferdatum",
        "buyer_reference": "Käuferreferenz",
        "ship_to": "Lieferanschrift",
        "exemption": "Steuerbefreiung: {reason}",
        "contact": "z. Hd. {name}",
    },
}


@dataclass(frozen=True)
class RenderOptions:
    paper: str = "A4"  # "A4" or "Letter"
    timezone: str = "Europe/Berlin"  # dates print in the shop's timezone
    einvoice: EInvoiceOptions = field(default_factory=EInvoiceOptions)  # exemption wording printed with 0 % rates


def render_pdf(document: Document, options: RenderOptions | None = None, *, xml: bytes | None = None) -> bytes:
    """The document as PDF bytes; the same document, options and XML always give the same bytes.

    With `xml` (an invoice's or credit note's CII XML) the PDF is a Factur-X PDF/A-3B embedding it.
    """
    options = options or RenderOptions()
    if options.paper not in PAPER_SIZES:
        raise ValueError(f"paper must be one of {', '.join(PAPER_SIZES)}")
    if xml is not None and isinstance(document, Receipt):
        raise ValueError("receipts are not e-invoices")
    # One render at a time per process: the parsed fonts are shared between documents and fpdf2
    # is not thread-safe (concurrent PDF/A outputs lose object offsets). Rendering is CPU-bound,
    # so under the GIL this costs no throughput; it matters where batches run as threads (local/).
    with _RENDERING:
        return _render(document, options, xml)


_RENDERING = threading.Lock()


def _render(document: Document, options: RenderOptions, xml: bytes | None) -> bytes:
    fmt = _Format(document.locale, options.timezone, document.currency)
    pdf = _new_pdf(options.paper, document, fmt, facturx=xml is not None)
    layout = _Layout(pdf, fmt)
    layout.header(document)
    if isinstance(document, Receipt):
        layout.receipt_body(document)
    else:
        layout.rows_table(document.rows)
        layout.totals(document)
        layout.closing_note(document, options.einvoice)
    _draw_footers(pdf, document.seller, fmt)
    if xml is not None and not isinstance(document, Receipt):
        _embed_facturx(pdf, document, xml, fmt)
    return bytes(pdf.output(output_producer_class=_producer_class()))


def _embed_facturx(pdf: Any, document: Invoice | CreditNote, xml: bytes, fmt: _Format) -> None:
    pdf.embed_file(
        bytes=xml,
        basename=XML_FILENAME,
        modification_date=document.issued_at,
        mime_type="text/xml",
        associated_file_relationship="Alternative",
        desc="Factur-X XML file (EN 16931)",
        compress=True,
    )
    pdf.set_xmp_metadata(xmp_metadata(document, clean(f"{fmt.label(document.kind)} {document.number}"), fmt.zone))


# --- formatting ---------------------------------------------------------------------------


class _Format(Localizer):
    """The shared formatting (chalicelib/presentation/formatting.py), in the document's currency."""

    def __init__(self, locale: str, timezone: str, currency: str):
        super().__init__(locale, timezone, LABELS)
        self.currency = currency

    def label(self, key: str, **values: Any) -> str:
        return self.t(key, **values)

    def amount(self, minor_units: int) -> str:
        return self.money(minor_units, self.currency)

    def method(self, method: str) -> str:
        return payment_method(method, self.language)


# --- fpdf2 document and fonts -------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _pdf_class() -> type[FPDF]:
    from fpdf import FPDF

    class InvoicePDF(FPDF):
        """Footers are drawn by `_draw_footers` once the page count is known."""

    return InvoicePDF


@functools.lru_cache(maxsize=1)
def _producer_class() -> type[Any]:
    from fpdf.output import OutputProducer

    class SubsetFontsProducer(OutputProducer):
        """Runs after the last footer is drawn, when every glyph the document uses is known."""

        def bufferize(self) -> bytearray:
            _embed_subsets(self.fpdf)
            return super().bufferize()

    return SubsetFontsProducer


def _new_pdf(paper: str, document: Document, fmt: _Format, *, facturx: bool = False) -> Any:
    compliance = "PDF/A-3B" if facturx else None
    pdf = _pdf_class()(orientation="portrait", unit="mm", format=PAPER_SIZES[paper], enforce_compliance=compliance)
    _add_fonts(pdf)
    pdf.set_creation_date(document.issued_at)
    pdf.set_producer("OrderCare")
    pdf.set_creator("OrderCare")
    pdf.set_title(clean(f"{fmt.label(document.kind)} {document.number}"))
    pdf.set_author(clean(document.seller.name))
    pdf.set_subject(clean(f"{fmt.label(document.kind)} {document.number}"))
    pdf.set_lang(fmt.language)
    pdf.set_margins(MARGIN, 16, MARGIN)
    pdf.set_auto_page_break(auto=False)
    pdf.add_page()
    return pdf


def _draw_footers(pdf: Any, seller: Party, fmt: _Format) -> None:
    """Seller details and "page n of N" on every page (N is known only now)."""
    lines = _footer_lines(pdf, seller, fmt)
    last = pdf.page
    pages = pdf.pages_count
    for number in range(1, pages + 1):
        pdf.page = number
        top = pdf.h - MARGIN + 2
        pdf.set_draw_color(*RULE)
        pdf.set_line_width(0.2)
        pdf.line(MARGIN, top, pdf.w - MARGIN, top)
        pdf.set_font(FAMILY, "", 7.2)
        pdf.set_text_color(*MUTED)
        for i, line in enumerate(lines):
            pdf.text(MARGIN, top + 4 + i * 3.4, line)
        label = clean(fmt.label("page", page=number, pages=pages))
        pdf.text(pdf.w - MARGIN - text_width(label, 7.2), top + 4, label)
    pdf.page = last


def _footer_lines(pdf: Any, seller: Party, fmt: _Format) -> tuple[str, ...]:
    """The seller's details for the footer, on as many lines as they need next to the page number."""
    parts = [seller.name, *seller.address]
    if seller.vat_id:
        parts.append(f"{fmt.label('vat_id')} {seller.vat_id}")
    if seller.email:
        parts.append(seller.email)
    room = pdf.w - 2 * MARGIN - 28
    lines: list[str] = []
    current = ""
    for part in (clean(part) for part in parts):
        candidate = f"{current} · {part}" if current else part
        if current and text_width(candidate, 7.2) > room:
            lines.append(current)
            current = part
        else:
            current = candidate
    lines.append(current)
    return tuple(lines[:2])


@functools.cache
def _font_template(style: str) -> Any:
    """fpdf2's parsed font (widths, cmap, glyph ids) for one style, once per container."""
    from fpdf import FPDF

    scratch = FPDF()
    scratch.add_font(FAMILY, style, str(FONT_FILES[style]))
    return scratch.fonts[f"{FAMILY}{style}"]


class _Widths(dict[int, float]):
    """A font's advance widths, read-only in practice: a character it lacks has the default
    width, as in fpdf2's defaultdict, but asking does not add it — so every document can share one."""

    def __init__(self, widths: collections.defaultdict[int, float]):
        super().__init__(widths)
        assert widths.default_factory is not None
        self.default = widths.default_factory()

    def __missing__(self, char: int) -> float:
        return self.default


@functools.cache
def _widths(style: str) -> _Widths:
    """Copied once per container instead of once per document (~6 000 entries per style)."""
    return _Widths(_font_template(style).cw)


@functools.cache
def _font_bytes(style: str) -> bytes:
    return FONT_FILES[style].read_bytes()


def _add_fonts(pdf: Any) -> None:
    """Register the fonts, reusing the parsed metrics of earlier renders.

    fpdf2's `add_font` re-parses the TTF (~6 000 glyph widths and ids) for every
    document. Those values never change, so they are parsed once and shared; what
    a document mutates (its glyph subset, its missing-glyph list) is fresh. This
    leans on fpdf2's TTFFont layout: fpdf2 is pinned and the tests render through it.
    """
    from fpdf.fonts import SubsetMap, TTFFont

    for style in FONT_FILES:
        template = _font_template(style)
        font = TTFFont.__new__(TTFFont)
        for name in TTFFont.__slots__:
            if hasattr(template, name):
                setattr(font, name, getattr(template, name))
        font.i = len(pdf.fonts) + 1
        font.cw = _widths(style)  # shared: fpdf2 only reads it, and a miss is not stored
        font.missing_glyphs = []
        font.biggest_size_pt = 0
        font._hbfont = None
        font.subset = SubsetMap(font)
        pdf.fonts[font.fontkey] = font


def _embed_subsets(pdf: Any) -> None:
    """Hand fpdf2 each font already cut down to the glyphs this document uses.

    fpdf2 subsets the embedded font with fontTools at output time; on the full
    760 KB DejaVu that is most of a render. Here the subset for a set of glyphs
    is made once per container (a shop's invoices mostly use the same letters
    and digits) and handed over as an `_Embedded` font, which fpdf2's subsetter
    finds nothing left to do with. Bounding boxes are not recalculated (outlines
    are copied unchanged), which also spares decoding and re-encoding them.
    """
    for style in FONT_FILES:
        font = pdf.fonts[f"{FAMILY}{style}"]
        font.ttfont = _Embedded(*_subset_font(style, embedded_glyphs(style, font.subset.get_all_glyph_names())))


# Characters nearly every document of a European shop uses: ASCII, Latin-1, the euro sign and
# typographic punctuation. They are always embedded with the glyphs a document uses, so documents
# share a few subsets and the cache answers almost every render: a cut for each document's own
# glyph set (names and numbers differ on every invoice) cost ~25 ms, most of a render in a sale's
# burst. The extra glyphs add ~20 KB to a PDF.
COMMON_RANGES = (
    (0x20, 0x7E),
    (0xA0, 0xFF),
    (0x2013, 0x2014),
    (0x2018, 0x201E),
    (0x2022, 0x2022),
    (0x2026, 0x2026),
    (0x20AC, 0x20AC),
)


@functools.cache
def _common_glyphs(style: str) -> frozenset[str]:
    cmap = _font_template(style).cmap
    return frozenset(cmap[code] for low, high in COMMON_RANGES for code in range(low, high + 1) if code in cmap)


def embedded_glyphs(style: str, used: Iterable[str]) -> frozenset[str]:
    """The glyphs embedded for a document: those it uses and the common ones."""
    return _common_glyphs(style).union(used)


class _Embedded:
    """A finished font subset in the place of the fontTools font fpdf2 would subset.

    fpdf2 (pinned) runs `Subsetter.subset(font)`, then asks `getGlyphID(name)` and
    `save()`s the result. This object has no tables for the subsetter to touch,
    answers glyph ids from the subset's own glyph order and saves the subset's
    bytes: the same outcome, without fontTools decoding and re-encoding the font
    for every document. A test renders through a real fontTools font as well and
    compares the two.
    """

    def __init__(self, data: bytes, glyph_order: tuple[str, ...]):
        self.data = data
        self.glyph_order = glyph_order
        self.ids = {name: index for index, name in enumerate(glyph_order)}

    def keys(self) -> list[str]:
        return []

    def __contains__(self, tag: object) -> bool:
        return False

    def getGlyphOrder(self) -> list[str]:
        return list(self.glyph_order)

    def getReverseGlyphMap(self) -> dict[str, int]:
        return dict(self.ids)

    def getGlyphName(self, glyph_id: int) -> str:
        return self.glyph_order[glyph_id]

    def getGlyphID(self, name: str) -> int:
        return self.ids[name]

    def setGlyphOrder(self, order: list[str]) -> None:
        return None

    def save(self, file: Any, reorderTables: bool = True) -> None:
        file.write(self.data)

    def close(self) -> None:
        return None


# Scripts most documents stay within: Latin (with Vietnamese), Greek, Cyrillic,
# punctuation, currency signs, letter-like symbols, arrows. The first subset of a
# container cuts these out of the full font once; later subsets start from this
# quarter-sized base, which is what makes an unseen glyph set cheap.
BASE_RANGES = (
    (0x20, 0x7E),
    (0xA0, 0x24F),
    (0x2B0, 0x36F),
    (0x370, 0x3FF),
    (0x400, 0x52F),
    (0x1E00, 0x1EFF),
    (0x2000, 0x20CF),
    (0x2100, 0x21FF),
    (0x2212, 0x2212),
    (0xFFFD, 0xFFFD),
)


def _cut(
    data: bytes, *, glyphs: list[str] | None = None, unicodes: list[int] | None = None, keep_names: bool
) -> tuple[bytes, tuple[str, ...]]:
    """A subset of a TTF and its glyph order (names as in the full font)."""
    from fontTools import subset  # type: ignore[import-untyped]
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    font = TTFont(io.BytesIO(data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)
    # fpdf2's own options (it drops the same tables), plus no hinting (PDF viewers do without).
    options = subset.Options(notdef_outline=True, recommended_glyphs=True)
    options.drop_tables += ["FFTM", "GDEF", "GPOS", "GSUB", "MATH", "hdmx", "meta", "kern"]
    options.hinting = False
    options.glyph_names = keep_names  # the base keeps them (later cuts go by name); embedded fonts need none
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=glyphs or [], unicodes=unicodes or [])
    subsetter.subset(font)
    order = tuple(font.getGlyphOrder())
    out = io.BytesIO()
    font.save(out)
    return out.getvalue(), order


@functools.cache
def _base_font(style: str) -> tuple[frozenset[str], bytes]:
    unicodes = [code for low, high in BASE_RANGES for code in range(low, high + 1)]
    data, order = _cut(_font_bytes(style), unicodes=unicodes, keep_names=True)
    return frozenset(order), data


@functools.lru_cache(maxsize=256)
def _subset_font(style: str, glyph_names: frozenset[str]) -> tuple[bytes, tuple[str, ...]]:
    """The embedded font for a set of glyphs; the same set always gives the same bytes."""
    base_names, base = _base_font(style)
    source = base if glyph_names <= base_names else _font_bytes(style)
    return _cut(source, glyphs=sorted(glyph_names), keep_names=False)


@functools.lru_cache(maxsize=16384)
def text_width(text: str, size: float, bold: bool = False) -> float:
    """Width in mm of cleaned text at `size` pt, as fpdf2 measures it (no kerning), cached."""
    widths = _font_template("B" if bold else "").cw
    return float(sum(widths[ord(char)] for char in text)) * size * PT / 1000


@functools.lru_cache(maxsize=1)
def _printable() -> frozenset[int]:
    return frozenset(_font_template("").cmap) & frozenset(_font_template("B").cmap)


@functools.lru_cache(maxsize=8192)
def clean(text: str) -> str:
    """Text the fonts can print: characters they lack become '?', control characters go."""
    printable = _printable()
    out = []
    for char in text:
        if char in "\r\n\t":
            out.append(" ")
        elif unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn"):
            continue
        else:
            out.append(char if ord(char) in printable else REPLACEMENT)
    return "".join(out)


class _Layout:
    """Draws the parts of a document; y grows down the page, in millimetres."""

    def __init__(self, pdf: Any, fmt: _Format):
        self.pdf = pdf
        self.fmt = fmt
        self.width = pdf.w - 2 * MARGIN
        self.bottom = pdf.h - MARGIN - 8  # keep clear of the footer
        self._font: tuple[bool, float] = (False, 0.0)

    # primitives
    def font(self, bold: bool, size: float) -> None:
        """Switch font only when it changes (fpdf2's set_font is not free)."""
        if (bold, size) != self._font:
            self.pdf.set_font(FAMILY, "B" if bold else "", size)
            self._font = (bold, size)

    def text(
        self,
        x: float,
        y: float,
        w: float,
        value: str,
        *,
        size: float = 9,
        bold: bool = False,
        color: tuple[int, int, int] = INK,
        align: str = "L",
        h: float = 4.6,
    ) -> None:
        """One line of text in the box (x, y, w, h), vertically centred; `pdf.text` is ~10× cheaper than `cell`."""
        pdf = self.pdf
        value = clean(value)
        if not value:
            return
        self.font(bold, size)
        if align != "L":
            spare = w - text_width(value, size, bold)
            x += spare if align == "R" else spare / 2
        pdf.set_text_color(*color)
        pdf.text(x, y + h / 2 + size * PT * 0.36, value)

    def fit(self, value: str, w: float, size: float, bold: bool = False) -> list[str]:
        """Word-wrap `value` into lines no wider than `w` (long words are cut)."""
        value = clean(value)
        lines: list[str] = []
        current = ""
        for word in value.split(" "):
            candidate = f"{current} {word}" if current else word
            if text_width(candidate, size, bold) <= w:
                current = candidate
                continue
            if current:
                lines.append(current)
            while text_width(word, size, bold) > w and len(word) > 1:
                cut = len(word)
                while cut > 1 and text_width(word[:cut], size, bold) > w:
                    cut -= 1
                lines.append(word[:cut])
                word = word[cut:]
            current = word
        if current or not lines:
            lines.append(current)
        return lines

    # header: seller, title, numbers, buyer
    def header(self, document: Document) -> None:
        fmt, pdf = self.fmt, self.pdf
        left = self.width * 0.55
        seller = document.seller
        self.text(MARGIN, 16, left, seller.name, size=14, bold=True, h=7)
        y = 24.0
        for line in seller.address:
            self.text(MARGIN, y, left, line, color=MUTED)
            y += 4.4
        if seller.vat_id:
            self.text(MARGIN, y, left, f"{fmt.label('vat_id')}: {seller.vat_id}", color=MUTED)
            y += 4.4
        if seller.email:
            self.text(MARGIN, y, left, seller.email, color=MUTED)

        right_x = MARGIN + left
        right_w = self.width - left
        room = self.width - text_width(clean(seller.name), 14, True) - 14
        title, title_size = fmt.label(document.kind), 20.0
        while title_size > 12 and text_width(clean(title), title_size, True) > room:
            title_size -= 1
        self.text(MARGIN, 15, self.width, title, size=title_size, bold=True, color=ACCENT, align="R", h=9)
        meta: list[tuple[str, str]] = [
            (fmt.label(f"{document.kind}_no"), document.number),
            (fmt.label("date"), fmt.medium_date(document.issued_at)),
            (fmt.label("order_no"), _order_number(document)),  # the number: the only order reference customers see
        ]
        if isinstance(document, CreditNote):
            meta.append((fmt.label("refers_to"), document.invoice_number))
            if document.invoice_issued_at is not None:
                meta.append((fmt.label("date"), fmt.medium_date(document.invoice_issued_at)))
        if isinstance(document, Receipt) and document.invoice_number:
            meta.append((fmt.label("invoice_no"), document.invoice_number))
        if not isinstance(document, Receipt):
            if document.supplied_at is not None:
                meta.append((fmt.label("delivery_date"), fmt.medium_date(document.supplied_at)))
            if document.buyer_reference:
                meta.append((fmt.label("buyer_reference"), document.buyer_reference))
        value_w = max(max(text_width(clean(value), 8.5, True) for _, value in meta) + 1, 28.0)
        y = 27.0
        for label, value in meta:
            self.text(right_x, y, right_w - value_w - 3, label, color=MUTED, align="R", size=8.5)
            self.text(MARGIN + self.width - value_w, y, value_w, value, bold=True, size=8.5, align="R")
            y += 4.6

        buyer_title = {"invoice": "bill_to", "receipt": "received_from", "credit_note": "credited_to"}[document.kind]
        y = max(y, 50.0) + 6
        self.text(MARGIN, y, left, fmt.label(buyer_title).upper(), size=7.5, bold=True, color=MUTED)
        y += 5
        self.text(MARGIN, y, left, document.buyer.name, size=10.5, bold=True, h=5.5)
        y += 5.8
        buyer = document.buyer
        lines = list(buyer.address[1:] if buyer.address[:1] == (buyer.name,) else buyer.address)
        if buyer.contact and buyer.contact not in lines:
            lines.insert(0, fmt.label("contact", name=buyer.contact))
        if buyer.country:
            lines.append(fmt.country(buyer.country))
        if buyer.vat_id:
            lines.append(f"{fmt.label('vat_id')}: {buyer.vat_id}")
        top = y
        for line in lines:
            self.text(MARGIN, y, left, line)
            y += 4.6
        ship_to = None if isinstance(document, Receipt) else document.ship_to
        if ship_to is not None:
            y = max(y, self._ship_to(ship_to, top - 10.8, MARGIN + left, self.width - left))
        pdf.set_y(y + 8)

    def _ship_to(self, party: Party, y: float, x: float, w: float) -> float:
        fmt = self.fmt
        self.text(x, y, w, fmt.label("ship_to").upper(), size=7.5, bold=True, color=MUTED)
        y += 5
        lines = [*party.address, *([fmt.country(party.country)] if party.country else [])]
        for line in lines:
            self.text(x, y, w, line)
            y += 4.6
        return y

    # the table of rows
    def columns(self) -> list[tuple[str, float, str]]:
        fixed = {"sku": 25.0, "qty": 11.0, "unit_price": 23.0, "vat": 13.0, "net": 24.0, "vat_amount": 22.0}
        description = self.width - sum(fixed.values())
        return [
            ("sku", fixed["sku"], "L"),
            ("description", description, "L"),
            ("qty", fixed["qty"], "R"),
            ("unit_price", fixed["unit_price"], "R"),
            ("vat", fixed["vat"], "R"),
            ("net", fixed["net"], "R"),
            ("vat_amount", fixed["vat_amount"], "R"),
        ]

    def table_header(self) -> None:
        pdf = self.pdf
        y = pdf.get_y()
        pdf.set_fill_color(*SHADE)
        pdf.rect(MARGIN, y, self.width, 7, style="F")
        x = MARGIN
        for key, width, align in self.columns():
            self.text(x + 1.2, y + 1.2, width - 2.4, self.fmt.label(key), size=8, bold=True, color=MUTED, align=align)
            x += width
        pdf.set_y(y + 7)

    def _row_cells(self, row: Row) -> list[str]:
        fmt = self.fmt
        description = row.description
        if row.kind == "discount":
            description = f"{fmt.label('discount')} {row.description}".strip()
        elif row.kind == "shipping":
            description = f"{fmt.label('shipping')} ({row.description})"
        elif row.kind == "refund":
            description = f"{fmt.label('refund')} {row.description}"
        return [
            row.sku or "",
            description,
            str(row.quantity) if row.quantity is not None else "",
            fmt.amount(row.unit_price) if row.unit_price is not None else "",
            fmt.rate(row.tax_rate_bps),
            fmt.amount(row.net),
            fmt.amount(row.tax),
        ]

    def rows_table(self, rows: tuple[Row, ...]) -> None:
        pdf = self.pdf
        self.table_header()
        columns = self.columns()
        for row in rows:
            cells = self._row_cells(row)
            wrapped = [self.fit(value, width - 2.4, 8.8) for (_, width, _), value in zip(columns, cells, strict=True)]
            height = max(len(lines) for lines in wrapped) * 4.2 + 2.0
            if pdf.get_y() + height > self.bottom:
                pdf.add_page()
                pdf.set_y(20)
                self.table_header()
            y = pdf.get_y()
            x = MARGIN
            for (_key, width, align), lines in zip(columns, wrapped, strict=True):
                for i, line in enumerate(lines):
                    self.text(x + 1.2, y + 1.0 + i * 4.2, width - 2.4, line, size=8.8, align=align, h=4.2)
                x += width
            pdf.set_draw_color(*RULE)
            pdf.set_line_width(0.2)
            pdf.line(MARGIN, y + height, MARGIN + self.width, y + height)
            pdf.set_y(y + height)

    # totals
    def totals(self, document: Invoice | CreditNote) -> None:
        fmt, pdf = self.fmt, self.pdf
        entries: list[tuple[str, int, bool]] = []
        if isinstance(document, Invoice):
            entries.append((fmt.label("subtotal"), document.subtotal, False))
            if document.discount_total:
                entries.append((fmt.label("discounts"), -document.discount_total, False))
            if document.shipping_fee:
                entries.append((fmt.label("shipping"), document.shipping_fee, False))
        entries.append((fmt.label("net_total"), document.net_total, False))
        taxes: tuple[TaxLine, ...] = document.taxes
        for tax in taxes:
            entries.append((fmt.label("vat_on", rate=fmt.rate(tax.rate_bps), net=fmt.amount(tax.net)), tax.tax, False))
        total_label = "total" if isinstance(document, Invoice) else "total_credited"
        entries.append((fmt.label(total_label), document.total, True))

        needed = (len(entries) - 1) * 5.2 + 9.5
        if pdf.get_y() + 4 + needed > self.bottom:
            pdf.add_page()
            pdf.set_y(20)
        y = pdf.get_y() + 4
        box_w = 92.0
        x = MARGIN + self.width - box_w
        for label, amount, strong in entries:
            if strong:
                y += 1.5
                pdf.set_draw_color(*INK)
                pdf.set_line_width(0.4)
                pdf.line(x, y, x + box_w, y)
                y += 1.5
                self.text(x, y, box_w - 32, label, size=10.5, bold=True, h=6)
                self.text(x + box_w - 32, y, 32, fmt.amount(amount), size=10.5, bold=True, align="R", h=6)
                y += 6.5
            else:
                self.text(x, y, box_w - 32, label, color=MUTED, size=8.8)
                self.text(x + box_w - 32, y, 32, fmt.amount(amount), size=8.8, align="R")
                y += 5.2
        pdf.set_y(y + 6)

    def closing_note(self, document: Invoice | CreditNote, einvoice: EInvoiceOptions) -> None:
        fmt = self.fmt
        notes: list[str] = []
        if isinstance(document, Invoice):
            if document.paid_with:
                notes.append(fmt.label("paid_note", method=fmt.method(document.paid_with)))
            if document.payment_ref:
                notes.append(f"{fmt.label('provider_ref')}: {document.payment_ref}")
        else:
            if document.full:
                notes.append(fmt.label("credit_full", invoice=document.invoice_number))
            else:
                notes.append(fmt.label("credit_part", invoice=document.invoice_number, ref=document.refund_ref))
            notes.append(f"{fmt.label('refund_ref')}: {document.refund_ref}")
        if einvoice.exemption_reason and any(einvoice.exempt(tax.rate_bps) for tax in document.taxes):
            notes.append(fmt.label("exemption", reason=einvoice.exemption_reason))
        notes.append(fmt.label("currency_note", currency=document.currency))
        self._notes(notes)

    def _notes(self, notes: list[str]) -> None:
        pdf = self.pdf
        y = pdf.get_y()
        for note in notes:
            for line in self.fit(note, self.width, 8.8):
                if y + 4.6 > self.bottom:
                    pdf.add_page()
                    y = 20.0
                self.text(MARGIN, y, self.width, line, size=8.8, color=MUTED)
                y += 4.6
        pdf.set_y(y)

    # receipt
    def receipt_body(self, receipt: Receipt) -> None:
        fmt, pdf = self.fmt, self.pdf
        y = pdf.get_y()
        box_h = 34.0
        pdf.set_fill_color(*SHADE)
        pdf.rect(MARGIN, y, self.width, box_h, style="F")
        self.text(MARGIN + 6, y + 6, 80, fmt.label("amount_paid").upper(), size=7.5, bold=True, color=MUTED)
        self.text(MARGIN + 6, y + 12, 80, fmt.amount(receipt.amount), size=22, bold=True, color=ACCENT, h=11)
        details = [
            (fmt.label("method"), fmt.method(receipt.method)),
            (fmt.label("provider_ref"), receipt.provider_ref),
            (fmt.label("paid_at"), fmt.medium_date_time(receipt.paid_at)),
        ]
        dx = MARGIN + self.width * 0.45
        dw = self.width * 0.55 - 6
        dy = y + 7
        for label, value in details:
            self.text(dx, dy, dw * 0.42, label, color=MUTED, size=8.8)
            for i, line in enumerate(self.fit(value, dw * 0.58, 8.8, bold=True)[:2]):
                self.text(dx + dw * 0.42, dy + i * 4.4, dw * 0.58, line, size=8.8, bold=True, align="R")
            dy += 9
        pdf.set_y(y + box_h + 8)
        invoice = fmt.label("receipt_invoice", invoice=receipt.invoice_number) if receipt.invoice_number else ""
        self._notes(
            [
                fmt.label(
                    "receipt_note", order=receipt.order_number or legacy_reference(receipt.order_id), invoice=invoice
                ),
                fmt.label("currency_note", currency=receipt.currency),
            ]
        )


def _order_number(document: Document) -> str:
    """The order's human number (documents of orders placed before numbers existed: the id's tail)."""
    return document.order_number or legacy_reference(document.order_id)
