"""The PDFs: what a reader (pypdf) extracts, Unicode and missing glyphs, paper sizes, determinism."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pypdf import PdfReader

from chalicelib.documents.invoice import (
    CreditNote,
    Invoice,
    Party,
    build_credit_note,
    build_invoice,
    build_receipt,
)
from chalicelib.documents.pdf import FONT_FILES, RenderOptions, clean, render_pdf
from chalicelib.domain.orders import OrderLine
from tests.document_fakes import AT, SELLER, paid_order, refunded

ROOT = Path(__file__).resolve().parents[2]


def text_of(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def invoice(locale: str = "de-DE", **kwargs: object) -> Invoice:
    order = paid_order(locale=locale, **kwargs)  # type: ignore[arg-type]
    return build_invoice(order, seller=SELLER, number="INV-2026-000123", issued_at=AT)


def test_fonts_and_licence_are_bundled() -> None:
    for path in FONT_FILES.values():
        assert path.is_file() and path.stat().st_size > 500_000
    licence = (FONT_FILES[""].parent / "LICENSE").read_text()
    assert "Bitstream Vera" in licence and "Arev" in licence


def test_invoice_text_has_unicode_names_number_and_totals() -> None:
    document = invoice("de-DE")
    text = text_of(render_pdf(document))
    for expected in (
        "Rechnung",
        "INV-2026-000123",
        "Zoë Ñúñez",
        "Алексей",
        "Müller",
        "Musterstraße 1",
        "DE123456789",
        "Spanien",
        "03.03.2026",
        "Gesamtbetrag",
        "K7QM-R3TE",  # the order's human number (the full reference is printed beside it)
    ):
        assert expected in text, expected
    total = f"{document.total // 100},{document.total % 100:02d}\xa0€"
    assert total in text or total.replace("\xa0", " ") in text


def test_currency_signs_and_english_formatting() -> None:
    order = paid_order(
        locale="en-GB",
        lines=[OrderLine("GIFT", 1, 1000, 0, "Gift card € £ ¥ ₹")],
        discount=0,
        shipping_fee=0,
        name="Алексей Müller",
    )
    document = build_invoice(order, seller=SELLER, number="INV-2026-000001", issued_at=AT)
    text = text_of(render_pdf(document))
    assert "Gift card € £ ¥ ₹" in text
    assert "Алексей Müller" in text
    assert "€10.00" in text and "Invoice" in text and "Bill to".upper() in text.upper()


def test_characters_the_font_lacks_do_not_crash() -> None:
    order = paid_order(
        locale="zz-ZZ",  # unknown locale: English wording and formats
        lines=[OrderLine("KANJI-1", 1, 1000, 1900, "漢字 chocolate \x00\u200b bar 𝄞")],
        name="李小龍\tBruce\nLee",
    )
    document = build_invoice(order, seller=SELLER, number="INV-2026-000002", issued_at=AT)
    text = text_of(render_pdf(document))
    assert "?? chocolate  bar ?" in text or "?? chocolate bar ?" in text
    assert "??? Bruce Lee" in text
    assert clean("a\x07b\u200dc\ud800") == "abc"


def test_same_document_same_bytes_even_in_a_fresh_process() -> None:
    document = invoice()
    first = render_pdf(document)
    assert render_pdf(document) == first
    assert b"/CreationDate (D:20260303101500Z" in first or b"/CreationDate (D:20260303101500+00'00'" in first
    script = textwrap.dedent(
        """
        import sys
        from chalicelib.documents.invoice import build_invoice
        from chalicelib.documents.pdf import render_pdf
        from tests.document_fakes import AT, SELLER, paid_order
        document = build_invoice(paid_order(locale="de-DE"), seller=SELLER, number="INV-2026-000123", issued_at=AT)
        sys.stdout.buffer.write(render_pdf(document))
        """
    )
    fresh = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, check=True).stdout
    assert fresh == first


def test_different_documents_differ() -> None:
    assert render_pdf(invoice()) != render_pdf(invoice(name="Zoe Nunez"))


@pytest.mark.parametrize(("paper", "size"), [("A4", (595.28, 841.89)), ("Letter", (612.0, 792.0))])
def test_paper_sizes(paper: str, size: tuple[float, float]) -> None:
    reader = PdfReader(io.BytesIO(render_pdf(invoice(), RenderOptions(paper=paper))))
    box = reader.pages[0].mediabox
    assert (round(float(box.width), 2), round(float(box.height), 2)) == size


def test_unknown_paper_size() -> None:
    with pytest.raises(ValueError, match="paper"):
        render_pdf(invoice(), RenderOptions(paper="A5"))


def test_long_invoices_break_pages_and_number_them() -> None:
    lines = [OrderLine(f"SKU-{i:03d}", 1 + i % 3, 100 + 37 * i, (0, 700, 1900)[i % 3], f"Item {i}") for i in range(70)]
    document = build_invoice(
        paid_order(lines=lines, locale="en-US"), seller=SELLER, number="INV-2026-000003", issued_at=AT
    )
    reader = PdfReader(io.BytesIO(render_pdf(document, RenderOptions(paper="Letter"))))
    pages = len(reader.pages)
    assert pages >= 2
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert f"Page 1 of {pages}" in text and f"Page {pages} of {pages}" in text
    assert "SKU-069" in text and "Total" in text
    assert text.count("Description") == pages or text.count("Description") >= 2  # header repeated


def test_receipt_text() -> None:
    order = paid_order(locale="en-GB")
    receipt = build_receipt(
        order,
        order.payments[0],
        seller=SELLER,
        number="RCT-2026-000009",
        issued_at=AT,
        invoice_number="INV-2026-000123",
    )
    text = text_of(render_pdf(receipt))
    for expected in ("Payment receipt", "RCT-2026-000009", "INV-2026-000123", "pi_3NxYz", "card", "Zoë Ñúñez"):
        assert expected in text, expected
    assert f"€{order.totals.total // 100}.{order.totals.total % 100:02d}" in text


def test_credit_note_text() -> None:
    order = paid_order(locale="en-GB")
    base = build_invoice(order, seller=SELLER, number="INV-2026-000123", issued_at=AT)
    refund = refunded(order, 1000)
    note: CreditNote = build_credit_note(
        order, refund, invoice=base, seller=SELLER, number="CN-2026-000007", issued_at=AT
    )
    text = text_of(render_pdf(note))
    for expected in ("Credit note", "CN-2026-000007", "INV-2026-000123", "re_1", "-€10.00", "Total credited"):
        assert expected in text, expected


def test_seller_details_are_cleaned_too() -> None:
    seller = Party("Shop\x00 „Ünïcødé“ 株式会社", ("Line 1",), vat_id="DE1")
    order = paid_order(locale="en-US")
    document = build_invoice(order, seller=seller, number="INV-1", issued_at=AT)
    assert "Shop „Ünïcødé“ ????" in text_of(render_pdf(document))


def test_rendering_is_not_imported_by_the_app_or_the_documents_service() -> None:
    script = (
        "import sys, app, chalicelib.services.documents, chalicelib.documents.pdf, chalicelib.adapters.s3_documents\n"
        "print(sorted(m for m in ('fpdf', 'fontTools', 'PIL') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_pre_cut_fonts_embed_exactly_what_fontTools_itself_would(monkeypatch: pytest.MonkeyPatch) -> None:
    """`_Embedded` skips fpdf2's own subsetting of the already-cut font; through a real fontTools
    font (fpdf2 subsets it again) the PDF must come out byte for byte the same."""
    from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

    from chalicelib.documents import pdf

    documents = [invoice("de-DE"), invoice("en-US", name="Алексей Müller ₹"), invoice("zz", name="漢 Zoë Արամ ש")]
    # fpdf2 cuts a real font down to the glyphs the document uses, so both sides embed exactly those here.
    monkeypatch.setattr(pdf, "embedded_glyphs", lambda style, used: frozenset(used))
    fast = [render_pdf(document) for document in documents]

    def through_fonttools(target: object) -> None:
        for style in pdf.FONT_FILES:
            font = target.fonts[f"{pdf.FAMILY}{style}"]  # type: ignore[attr-defined]
            names = frozenset(font.subset.get_all_glyph_names())
            base_names, base = pdf._base_font(style)
            source = base if names <= base_names else pdf._font_bytes(style)
            data, _ = pdf._cut(source, glyphs=sorted(names), keep_names=True)  # fpdf2 looks glyphs up by name
            font.ttfont = TTFont(io.BytesIO(data), recalcTimestamp=False, recalcBBoxes=False, lazy=True)

    monkeypatch.setattr(pdf, "_embed_subsets", through_fonttools)
    assert [render_pdf(document) for document in documents] == fast


def test_documents_within_the_common_characters_share_one_font_subset() -> None:
    """Names and numbers differ on every invoice; the common glyphs embedded with them keep it one cut per style."""
    from chalicelib.documents import pdf

    names = ["Jürgen Weiß", "Zoë Dupont-Lefèvre", "Åsa Ødegård", "Kevin O'Neil", "Ana Núñez"]
    documents = [
        build_invoice(paid_order(name=name), seller=SELLER, number=f"INV-2026-{number:06d}", issued_at=AT)
        for number, name in enumerate(names, start=900)
    ]
    render_pdf(documents[0])
    before = pdf._subset_font.cache_info()
    rendered = [render_pdf(document) for document in documents[1:]]
    assert pdf._subset_font.cache_info().misses == before.misses
    for data, document in zip(rendered, documents[1:], strict=True):
        text = text_of(data)
        assert document.buyer.name in text and document.number in text


def test_the_subset_cache_does_not_change_the_bytes() -> None:
    from chalicelib.documents import pdf

    document = invoice("en-GB", name="Ŝŭbset Çäché")
    warm = render_pdf(document)
    pdf._subset_font.cache_clear()
    pdf._base_font.cache_clear()
    assert render_pdf(document) == warm


def test_scripts_outside_the_base_subset_still_print() -> None:
    from chalicelib.documents import pdf

    name = "Արամ ხაჩატურიანი"  # Armenian and Georgian: in DejaVu Sans, not in the base cut
    assert any(ord(char) not in range(low, high + 1) for char in name for low, high in pdf.BASE_RANGES)
    text = text_of(render_pdf(invoice("en-US", name=name)))
    assert name in text
