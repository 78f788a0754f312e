"""Email and SMS wording per language (formatting: chalicelib/presentation/formatting.py).

Wording lives here rather than in one template per language so every language
has every message (a test checks the catalogues have the same keys).
"""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "greeting": "Hello {name},",
        "order_confirmation.subject": "Order {order_no} confirmed",
        "order_confirmation.intro": "Thank you for your order. We will ship it by {ship_by} and it should "
        "arrive by {deliver_by}.",
        "order_confirmation.sms": "Order {order_no} confirmed: {total}. Arrives by {deliver_by}. {link}",
        "payment_receipt.subject": "Payment received for order {order_no}",
        "payment_receipt.intro": "We received your payment of {amount} ({method}, reference {provider_ref}).",
        "payment_receipt.revised": "Because the payment arrived on a later business day, your order now "
        "ships by {ship_by} and should arrive by {deliver_by}.",
        "payment_receipt.sms": "Payment of {amount} received for order {order_no}. {link}",
        "shipped.subject": "Order {order_no} is on its way",
        "shipped.intro": "{carrier} is delivering {units} item(s) of your order. Tracking number: "
        "{tracking_number}. Expected by {estimate}.",
        "shipped.sms": "Order {order_no} shipped with {carrier}, tracking {tracking_number}. {link}",
        "survey.subject": "How was your order {order_no}?",
        "survey.intro": "Your order {order_no} arrived a few days ago. How satisfied are you? One click on a "
        "number opens a short form (1 = not at all, 5 = very).",
        "survey.sms": "How was order {order_no}? Tell us in 30 seconds: {link}",
        "survey.scale": "Rate us",
        "out_for_delivery.subject": "Order {order_no} arrives today",
        "out_for_delivery.intro": "{carrier} is out delivering your parcel {tracking_number} today.",
        "out_for_delivery.sms": "Order {order_no} is out for delivery today with {carrier}. {link}",
        "delivered.subject": "Order {order_no} was delivered",
        "delivered.intro": "Your order was delivered. We hope you enjoy it.",
        "delivered.sms": "Order {order_no} was delivered. {link}",
        "cancelled.subject": "Order {order_no} was cancelled",
        "cancelled.intro": "Your order was cancelled. If you already paid, the refund is on its way.",
        "cancelled.sms": "Order {order_no} was cancelled. {link}",
        "delay.subject": "Order {order_no}: new delivery estimate",
        "delay.intro": "We are sorry: your order will arrive later than we promised. New estimate: "
        "{estimate} (promised: {deliver_by}).",
        "delay.sms": "Sorry, order {order_no} is delayed. New estimate: {estimate}. {link}",
        "summary": "Order summary",
        "item": "Item",
        "quantity": "Qty",
        "price": "Price",
        "subtotal": "Subtotal",
        "discounts": "Discounts",
        "shipping": "Shipping",
        "tax": "Tax",
        "total": "Total",
        "track": "Track your order",
        "account": "Invoices, returns and help in your account",
        "carrier_page": "Carrier tracking page",
        "footer": "You receive this message because you ordered from {shop}. Questions? Reply to this email.",
    },
    "de": {
        "greeting": "Hallo {name},",
        "order_confirmation.subject": "Bestellung {order_no} bestätigt",
        "order_confirmation.intro": "Vielen Dank für Ihre Bestellung. Wir versenden sie bis {ship_by}, "
        "sie sollte bis {deliver_by} ankommen.",
        "order_confirmation.sms": "Bestellung {order_no} bestätigt: {total}. Lieferung bis {deliver_by}. {link}",
        "payment_receipt.subject": "Zahlung für Bestellung {order_no} erhalten",
        "payment_receipt.intro": "Wir haben Ihre Zahlung über {amount} erhalten ({method}, Referenz {provider_ref}).",
        "payment_receipt.revised": "Da die Zahlung an einem späteren Werktag einging, versenden wir bis "
        "{ship_by}; die Lieferung erfolgt voraussichtlich bis {deliver_by}.",
        "payment_receipt.sms": "Zahlung über {amount} für Bestellung {order_no} erhalten. {link}",
        "shipped.subject": "Bestellung {order_no} ist unterwegs",
        "shipped.intro": "{carrier} liefert {units} Artikel Ihrer Bestellung. Sendungsnummer: "
        "{tracking_number}. Voraussichtlich bis {estimate}.",
        "shipped.sms": "Bestellung {order_no} mit {carrier} versandt, Sendung {tracking_number}. {link}",
        "survey.subject": "Wie zufrieden sind Sie mit Bestellung {order_no}?",
        "survey.intro": "Ihre Bestellung {order_no} ist vor ein paar Tagen angekommen. Wie zufrieden sind Sie? "
        "Ein Klick auf eine Zahl öffnet ein kurzes Formular (1 = gar nicht, 5 = sehr).",
        "survey.sms": "Wie war Bestellung {order_no}? Sagen Sie es uns in 30 Sekunden: {link}",
        "survey.scale": "Bewerten",
        "out_for_delivery.subject": "Bestellung {order_no} kommt heute",
        "out_for_delivery.intro": "{carrier} stellt Ihr Paket {tracking_number} heute zu.",
        "out_for_delivery.sms": "Bestellung {order_no} wird heute von {carrier} zugestellt. {link}",
        "delivered.subject": "Bestellung {order_no} wurde zugestellt",
        "delivered.intro": "Ihre Bestellung wurde zugestellt. Viel Freude damit!",
        "delivered.sms": "Bestellung {order_no} wurde zugestellt. {link}",
        "cancelled.subject": "Bestellung {order_no} wurde storniert",
        "cancelled.intro": "Ihre Bestellung wurde storniert. Falls Sie bereits bezahlt haben, erstatten wir "
        "den Betrag.",
        "cancelled.sms": "Bestellung {order_no} wurde storniert. {link}",
        "delay.subject": "Bestellung {order_no}: neuer Liefertermin",
        "delay.intro": "Es tut uns leid: Ihre Bestellung kommt später als versprochen. Neuer Termin: "
        "{estimate} (versprochen: {deliver_by}).",
        "delay.sms": "Bestellung {order_no} verspätet sich. Neuer Termin: {estimate}. {link}",
        "summary": "Bestellübersicht",
        "item": "Artikel",
        "quantity": "Menge",
        "price": "Preis",
        "subtotal": "Zwischensumme",
        "discounts": "Rabatte",
        "shipping": "Versand",
        "tax": "MwSt.",
        "total": "Gesamt",
        "track": "Sendung verfolgen",
        "account": "Rechnungen, Rücksendungen und Hilfe in Ihrem Konto",
        "carrier_page": "Sendungsverfolgung des Paketdienstes",
        "footer": "Sie erhalten diese Nachricht, weil Sie bei {shop} bestellt haben. Fragen? Antworten Sie "
        "einfach auf diese E-Mail.",
    },
}
