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
        "survey.subject_support": "How did we help with order {order_no}?",
        "survey.intro_support": "We recently answered your request about order {order_no}. How satisfied are you "
        "with our help? One click on a number opens a short form (1 = not at all, 5 = very).",
        "survey.sms_support": "How was our help with order {order_no}? Tell us in 30 seconds: {link}",
        "survey.subject_return": "How was your return for order {order_no}?",
        "survey.intro_return": "Your return for order {order_no} is complete. How satisfied are you with how it "
        "went? One click on a number opens a short form (1 = not at all, 5 = very).",
        "survey.sms_return": "How was your return for order {order_no}? Tell us in 30 seconds: {link}",
        "survey.scale": "Rate us",
        "out_for_delivery.subject": "Order {order_no} arrives today",
        "out_for_delivery.intro": "{carrier} is out delivering your parcel {tracking_number} today.",
        "out_for_delivery.sms": "Order {order_no} is out for delivery today with {carrier}. {link}",
        "at_location": " at {location}",
        "attempt_failed.subject": "Order {order_no}: we missed you",
        "attempt_failed.intro": "{carrier} could not deliver your parcel {tracking_number}{at_location}. What "
        "happens next: they usually try again on the next working day or leave a card saying where to collect "
        "it. If nobody will be in, ask a neighbour or pick a pickup point on the carrier's page.",
        "attempt_failed.sms": "Order {order_no}: {carrier} could not deliver today. They will try again or leave a "
        "card. {link}",
        "available_for_pickup.subject": "Order {order_no} is ready to collect",
        "available_for_pickup.intro": "Your parcel {tracking_number} is waiting for you{at_location}. What to "
        "do: bring an ID and this tracking number; parcels not collected within 7 days go back to us.",
        "available_for_pickup.sms": "Order {order_no} is ready to collect{at_location}. Bring an ID. {link}",
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
        "return_requested.subject": "Return {rma} for order {order_no} received",
        "return_requested.intro": "We have your return request {rma}. We will check it and tell you the next "
        "step shortly.",
        "return_requested.sms": "Return {rma} for order {order_no} requested. We will be in touch. {link}",
        "return_approved.subject": "Return {rma} approved",
        "return_approved.intro": "Your return is approved. Please write {rma} on the parcel and send it to us "
        "by {receive_by}.",
        "return_approved.sms": "Return {rma} approved: write {rma} on the parcel, send it by {receive_by}.",
        "return_rejected.subject": "Return {rma} could not be accepted",
        "return_rejected.intro": "We are sorry, we cannot accept return {rma}: {reason}",
        "return_rejected.sms": "Return {rma} for order {order_no} was not accepted. Details by email.",
        "return_received.subject": "Return {rma} arrived",
        "return_received.intro": "Your returned parcel {rma} has arrived. {next_step}",
        "return_received.sms": "Return {rma} arrived. {next_step}",
        "return_received.refund": "We are refunding {refund}; the credit note follows.",
        "return_received.exchange": "Your replacement is being prepared.",
        "return_refunded.subject": "Refund for return {rma}",
        "return_refunded.intro": "We have refunded {refund} for return {rma}.",
        "return_refunded.sms": "Refund of {refund} for return {rma} is on its way.",
        "return_exchanged.subject": "Replacement for return {rma}",
        "return_exchanged.intro": "Your replacement order is on its way to processing at no charge.",
        "return_exchanged.sms": "Replacement for return {rma} ordered at no charge. {link}",
        "return_cancelled.subject": "Return {rma} cancelled",
        "return_cancelled.intro": "Return {rma} was cancelled. Nothing more needs to be sent.",
        "return_cancelled.sms": "Return {rma} for order {order_no} was cancelled.",
        "return_expired.subject": "Return {rma} expired",
        "return_expired.intro": "Return {rma} was not received in time and has expired. Please contact us if "
        "you still want to return the items.",
        "return_expired.sms": "Return {rma} expired: we did not receive the parcel in time.",
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
        "survey.subject_support": "Wie zufrieden sind Sie mit unserer Hilfe zu Bestellung {order_no}?",
        "survey.intro_support": "Wir haben kürzlich Ihre Anfrage zur Bestellung {order_no} beantwortet. Wie "
        "zufrieden sind Sie mit unserer Hilfe? Ein Klick auf eine Zahl öffnet ein kurzes Formular "
        "(1 = gar nicht, 5 = sehr).",
        "survey.sms_support": "Wie war unsere Hilfe zu Bestellung {order_no}? Sagen Sie es uns in 30 Sekunden: {link}",
        "survey.subject_return": "Wie zufrieden sind Sie mit Ihrer Rücksendung zu Bestellung {order_no}?",
        "survey.intro_return": "Ihre Rücksendung zur Bestellung {order_no} ist abgeschlossen. Wie zufrieden sind Sie "
        "mit dem Ablauf? Ein Klick auf eine Zahl öffnet ein kurzes Formular (1 = gar nicht, 5 = sehr).",
        "survey.sms_return": "Wie war Ihre Rücksendung zu Bestellung {order_no}? Sagen Sie es uns in 30 Sekunden: "
        "{link}",
        "survey.scale": "Bewerten",
        "out_for_delivery.subject": "Bestellung {order_no} kommt heute",
        "out_for_delivery.intro": "{carrier} stellt Ihr Paket {tracking_number} heute zu.",
        "out_for_delivery.sms": "Bestellung {order_no} wird heute von {carrier} zugestellt. {link}",
        "at_location": " bei {location}",
        "attempt_failed.subject": "Bestellung {order_no}: Zustellversuch ohne Erfolg",
        "attempt_failed.intro": "{carrier} konnte Ihr Paket {tracking_number}{at_location} nicht zustellen. So "
        "geht es weiter: Meist folgt am nächsten Werktag ein neuer Versuch, oder Sie finden eine Karte, wo Sie "
        "das Paket abholen können. Sind Sie nicht da, fragen Sie einen Nachbarn oder wählen Sie auf der Seite des "
        "Paketdienstes eine Abholstelle.",
        "attempt_failed.sms": "Bestellung {order_no}: {carrier} konnte heute nicht zustellen. Neuer Versuch oder "
        "Benachrichtigungskarte folgt. {link}",
        "available_for_pickup.subject": "Bestellung {order_no} liegt zur Abholung bereit",
        "available_for_pickup.intro": "Ihr Paket {tracking_number} liegt für Sie bereit{at_location}. Bitte "
        "bringen Sie einen Ausweis und diese Sendungsnummer mit; nach 7 Tagen geht das Paket an uns zurück.",
        "available_for_pickup.sms": "Bestellung {order_no} liegt zur Abholung bereit{at_location}. Ausweis "
        "mitbringen. {link}",
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
        "return_requested.subject": "Rücksendung {rma} zu Bestellung {order_no} eingegangen",
        "return_requested.intro": "Wir haben Ihre Rücksendeanfrage {rma} erhalten. Wir prüfen sie und melden "
        "uns in Kürze.",
        "return_requested.sms": "Rücksendung {rma} zu Bestellung {order_no} angefragt. Wir melden uns. {link}",
        "return_approved.subject": "Rücksendung {rma} genehmigt",
        "return_approved.intro": "Ihre Rücksendung ist genehmigt. Bitte schreiben Sie {rma} auf das Paket und "
        "senden Sie es bis {receive_by} an uns.",
        "return_approved.sms": "Rücksendung {rma} genehmigt: {rma} aufs Paket, senden bis {receive_by}.",
        "return_rejected.subject": "Rücksendung {rma} nicht möglich",
        "return_rejected.intro": "Leider können wir die Rücksendung {rma} nicht annehmen: {reason}",
        "return_rejected.sms": "Rücksendung {rma} zu Bestellung {order_no} abgelehnt. Details per E-Mail.",
        "return_received.subject": "Rücksendung {rma} eingetroffen",
        "return_received.intro": "Ihr Rücksendepaket {rma} ist bei uns eingetroffen. {next_step}",
        "return_received.sms": "Rücksendung {rma} eingetroffen. {next_step}",
        "return_received.refund": "Wir erstatten {refund}; die Gutschrift folgt.",
        "return_received.exchange": "Ihr Ersatz wird vorbereitet.",
        "return_refunded.subject": "Erstattung für Rücksendung {rma}",
        "return_refunded.intro": "Wir haben {refund} für die Rücksendung {rma} erstattet.",
        "return_refunded.sms": "Erstattung über {refund} für Rücksendung {rma} ist unterwegs.",
        "return_exchanged.subject": "Ersatz für Rücksendung {rma}",
        "return_exchanged.intro": "Ihre Ersatzbestellung geht kostenlos in die Bearbeitung.",
        "return_exchanged.sms": "Ersatz für Rücksendung {rma} kostenlos bestellt. {link}",
        "return_cancelled.subject": "Rücksendung {rma} storniert",
        "return_cancelled.intro": "Die Rücksendung {rma} wurde storniert. Sie müssen nichts mehr einsenden.",
        "return_cancelled.sms": "Rücksendung {rma} zu Bestellung {order_no} wurde storniert.",
        "return_expired.subject": "Rücksendung {rma} abgelaufen",
        "return_expired.intro": "Die Rücksendung {rma} ist nicht rechtzeitig eingetroffen und abgelaufen. "
        "Bitte melden Sie sich, falls Sie die Artikel noch zurücksenden möchten.",
        "return_expired.sms": "Rücksendung {rma} abgelaufen: das Paket kam nicht rechtzeitig an.",
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
