"""Reply text: quoted history and signatures are cut, mobile clients' one-line signatures included (en/de),
while ordinary sentences that merely start alike are kept."""

from __future__ import annotations

import pytest

from chalicelib.notify.inbound_email import strip_reply


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hallo,\n\ndas Paket fehlt.\n\nVon meinem iPhone gesendet", "Hallo,\n\ndas Paket fehlt."),
        ("Hallo,\n\ndas Paket fehlt.\n\nVon meinem iPad gesendet.", "Hallo,\n\ndas Paket fehlt."),
        ("Wo bleibt es?\n\nVon meinem Huawei Mate 20 gesendet", "Wo bleibt es?"),
        ("Hi,\n\nwhere is it?\n\nSent from my iPhone", "Hi,\n\nwhere is it?"),
        ("Hallo,\n\nwo bleibt es?\n\nGesendet von meinem Samsung Galaxy Smartphone.", "Hallo,\n\nwo bleibt es?"),
        ("Hallo\n\nGesendet mit der WEB.DE Mail App", "Hallo"),
        ("Hi there\n\nSent from Mail for Windows", "Hi there"),
        ("Hi there\n\nSent from Outlook for iOS", "Hi there"),
        (
            "Bitte umleiten.\n\nVon meinem iPhone gesendet\n\n> Am 01.12.2026 um 09:02 schrieb Shop <a@b.c>:\n>\n> Alt",
            "Bitte umleiten.",
        ),
        ("Hi\n\nSent from my iPhone\n\nOn Tue, Dec 1, 2026 at 10:00 AM Shop <a@b.c> wrote:\n> old", "Hi"),
    ],
)
def test_mobile_signatures_are_stripped(text: str, expected: str) -> None:
    assert strip_reply(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Hallo\nVon meinem Konto wurde doppelt abgebucht.\nBitte prüfen.",
        "Hallo\nGesendet mit der Post, aber nie angekommen.",
        "Hi\nSent from the warehouse twice, it says.",
    ],
)
def test_sentences_that_start_alike_are_kept(text: str) -> None:
    assert strip_reply(text) == text
