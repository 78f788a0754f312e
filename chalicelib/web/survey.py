"""The survey form: `GET /surveys/{token}` shows it (a score from the email's link pre-selected),
only its POST records an answer — so mail scanners that fetch links never answer for anyone."""

from __future__ import annotations

from typing import Any

WORDS: dict[str, dict[str, str]] = {
    "en": {
        "title": "Your opinion",
        "heading": "How did we do?",
        "intro": "Two minutes that help us do better. Only the button below sends your answer.",
        "csat": "How satisfied are you overall?",
        "csat_hint": "1 = not at all satisfied, 5 = very satisfied",
        "nps": "How likely are you to recommend us to a friend?",
        "nps_hint": "0 = not at all likely, 10 = extremely likely",
        "aspects": "And in detail",
        "optional": "optional",
        "comment": "Anything you want to tell us?",
        "send": "Send my answer",
        "thanks": "Thank you!",
        "thanks_text": "We have your answer. If something went wrong, our team will get back to you.",
        "accuracy": "The right items, complete",
        "speed": "Speed of delivery",
        "communication": "Keeping you informed",
        "invoicing": "Invoice and receipt",
        "resolution": "Solving your issue",
        "invalid": "Please choose a score from 1 to 5.",
    },
    "de": {
        "title": "Ihre Meinung",
        "heading": "Wie waren wir?",
        "intro": "Zwei Minuten, die uns helfen, besser zu werden. Erst der Knopf unten sendet Ihre Antwort.",
        "csat": "Wie zufrieden sind Sie insgesamt?",
        "csat_hint": "1 = gar nicht zufrieden, 5 = sehr zufrieden",
        "nps": "Wie wahrscheinlich empfehlen Sie uns weiter?",
        "nps_hint": "0 = gar nicht wahrscheinlich, 10 = äußerst wahrscheinlich",
        "aspects": "Im Einzelnen",
        "optional": "freiwillig",
        "comment": "Möchten Sie uns noch etwas sagen?",
        "send": "Antwort senden",
        "thanks": "Vielen Dank!",
        "thanks_text": "Ihre Antwort ist angekommen. Falls etwas schiefging, meldet sich unser Team bei Ihnen.",
        "accuracy": "Richtige Artikel, vollständig",
        "speed": "Liefergeschwindigkeit",
        "communication": "Informiert bleiben",
        "invoicing": "Rechnung und Beleg",
        "resolution": "Lösung Ihres Anliegens",
        "invalid": "Bitte wählen Sie eine Bewertung von 1 bis 5.",
    },
}
ASPECTS_BY_KIND = {
    "delivery": ("accuracy", "speed", "communication", "invoicing"),
    "support": ("communication", "resolution"),
    "return": ("communication", "resolution", "invoicing"),
}


def render_survey(
    language: str, shop: str, kind: str, action: str, score: int | None, *, done: bool = False, error: str = ""
) -> str:
    from chalicelib.presentation.formatting import language_of
    from chalicelib.presentation.templates import environment
    from chalicelib.web.messages import STRINGS

    lang = language if language in WORDS else "en"
    words = WORDS[lang]
    context: dict[str, Any] = {
        "lang": lang,
        "title": words["title"],
        "banner": STRINGS[language_of(lang)]["banner"],
        "shop": shop,
        "s": words,
        "action": action,
        "score": score,
        "ask_nps": kind == "delivery",
        "aspects": [(key, words[key]) for key in ASPECTS_BY_KIND.get(kind, ())],
        "done": done,
        "error": error,
    }
    return environment().get_template("survey.html").render(**context)
