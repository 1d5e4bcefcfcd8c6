"""What the payment flow says: Recobro's recordings (`recobro/pay-...`, in
Spanish and English) and how amounts, dates, card endings and references
are said with Asterisk's own sounds (`number:`, `digits:`, the month
sounds), never a recording per value. Pure."""

from __future__ import annotations

from datetime import date

from ivr.numbers import number_media
from ivr.recordings import Recording, sound
from payment_ivr.card import Brand
from payment_ivr.terms import Money


def _rec(name: str, en: str, es: str) -> Recording:
    return Recording(sound(f"pay-{name}"), {"en": en, "es": es})


# The amount menu: "Your balance is 1234 and 50 cents. To pay it in full,
# press 1. To settle your account today for 864 and 15 cents, press 2. To
# pay in 3 monthly payments of 411 and 50 cents, press 3. …"
BALANCE = _rec("balance", "Your balance is", "Su saldo es de")
OPTION_FULL = _rec("option-full", "To pay it in full, press 1.",
                   "Para pagarlo completo, pulse 1.")
OPTION_SETTLE = _rec("option-settle", "To settle your account today for",
                     "Para liquidar su cuenta hoy por")
PRESS_2 = _rec("press-2", "press 2.", "pulse 2.")
OPTION_PLAN = _rec("option-plan", "To pay in", "Para pagar en")
MONTHLY_OF = _rec("monthly-payments-of", "monthly payments of", "pagos mensuales de")
PRESS_3 = _rec("press-3", "press 3.", "pulse 3.")
OPTION_PROMISE = _rec("option-promise", "To promise to pay on a date of your choice, press 4.",
                      "Para comprometerse a pagar en una fecha de su elección, pulse 4.")

# Amounts: "1234 and 50 cents" / "1234 con 50 centavos".
AND = _rec("and", "and", "con")
CENTS = _rec("cents", "cents", "centavos")

# The plan's consent, asked explicitly before any card is keyed.
PLAN_FIRST = _rec("plan-first", "Your first payment, of", "Su primer pago, de")
PLAN_TODAY = _rec("plan-today", "will be charged today, and the other",
                  "se cobrará hoy, y los otros")
PLAN_REST = _rec("plan-rest", "payments, of", "pagos, de")
PLAN_CONSENT = _rec(
    "plan-consent",
    "will be charged to the same card on the same day of each following month. We will keep "
    "a secure reference to your card for these payments only. To agree, press 1. To choose "
    "another option, press 2.",
    "se cobrarán a la misma tarjeta el mismo día de cada mes siguiente. Guardaremos una "
    "referencia segura de su tarjeta solo para estos pagos. Para aceptar, pulse 1. Para elegir "
    "otra opción, pulse 2.")

# The card.
CARD_NUMBER = _rec(
    "card-number",
    "Please enter your card number, then press the pound key. To start again, press star.",
    "Marque el número de su tarjeta y después la tecla de número. Para empezar de nuevo, "
    "pulse asterisco.")
CARD_INVALID = _rec("card-invalid", "That card number is not valid.",
                    "Ese número de tarjeta no es válido.")
EXPIRY = _rec("expiry",
              "Enter the card's expiry date: two digits for the month, then two for the year.",
              "Marque la fecha de vencimiento de la tarjeta: dos dígitos para el mes y dos "
              "para el año.")
EXPIRY_INVALID = _rec("expiry-invalid", "That expiry date is not valid.",
                      "Esa fecha de vencimiento no es válida.")
EXPIRED = _rec("expired", "That card has expired.", "Esa tarjeta está vencida.")
CVV = _rec("cvv", "Enter the three-digit security code on the back of your card.",
           "Marque el código de seguridad de tres dígitos, al reverso de su tarjeta.")
CVV_AMEX = _rec("cvv-amex", "Enter the four-digit security code on the front of your card.",
                "Marque el código de seguridad de cuatro dígitos, al frente de su tarjeta.")
CVV_INVALID = _rec("cvv-invalid", "That security code is not valid.",
                   "Ese código de seguridad no es válido.")
NO_ENTRY = _rec("no-entry", "We did not receive your entry.", "No recibimos su respuesta.")

# The confirmation: "You are paying with a Visa card ending in 4 2 4 2, the
# amount of 123 and 45 cents. To pay, press 1. To use a different card,
# press 2."
PAYING_WITH = _rec("paying-with", "You are paying with", "Va a pagar con")
ENDING_IN = _rec("ending-in", "ending in", "terminada en")
THE_AMOUNT = _rec("the-amount", "the amount of", "la cantidad de")
CONFIRM_MENU = _rec("confirm-menu", "To pay, press 1. To use a different card, press 2.",
                    "Para pagar, pulse 1. Para usar otra tarjeta, pulse 2.")
WAIT = _rec("wait", "One moment, please.", "Un momento, por favor.")

BRANDS: dict[Brand, Recording] = {
    Brand.VISA: _rec("brand-visa", "a Visa card", "una tarjeta Visa"),
    Brand.MASTERCARD: _rec("brand-mastercard", "a Mastercard", "una tarjeta Mastercard"),
    Brand.AMEX: _rec("brand-amex", "an American Express card",
                     "una tarjeta American Express"),
    Brand.DISCOVER: _rec("brand-discover", "a Discover card", "una tarjeta Discover"),
    Brand.DINERS: _rec("brand-diners", "a Diners Club card", "una tarjeta Diners Club"),
    Brand.JCB: _rec("brand-jcb", "a J C B card", "una tarjeta J C B"),
    Brand.UNIONPAY: _rec("brand-unionpay", "a UnionPay card", "una tarjeta UnionPay"),
    Brand.UNKNOWN: _rec("brand-card", "a card", "una tarjeta"),
}

# The gateway's answers.
PAYMENT_OF = _rec("payment-of", "Your payment of", "Su pago de")
APPROVED_CARD = _rec("approved-card", "has been approved, with your card ending in",
                     "ha sido aprobado, con su tarjeta terminada en")
REFERENCE = _rec("reference", "Your reference number is", "Su número de referencia es")
PLAN_SET_UP = _rec("plan-set-up", "Your other payments are scheduled.",
                   "Sus demás pagos han quedado programados.")
THANK_YOU = _rec("thank-you", "Thank you.", "Gracias.")
DECLINED = _rec("declined", "Your card was declined.", "Su tarjeta fue rechazada.")
ANOTHER_CARD = _rec("another-card", "To try another card, press 1.",
                    "Para intentar con otra tarjeta, pulse 1.")
PROMISE_ON_2 = _rec("promise-press-2", "To promise to pay on a date of your choice, press 2.",
                    "Para comprometerse a pagar en una fecha de su elección, pulse 2.")
GATEWAY_DOWN = _rec("gateway-down", "We cannot take card payments right now.",
                    "En este momento no podemos recibir pagos con tarjeta.")
PROMISE_ON_1 = _rec("promise-press-1",
                    "To promise to pay on a date of your choice instead, press 1.",
                    "Para comprometerse a pagar en una fecha de su elección, pulse 1.")
NOT_TAKEN = _rec("not-taken", "Your payment has not been made.",
                 "Su pago no se ha realizado.")

# A promise to pay: "You promise to pay 1234 and 50 cents on March 15."
PROMISE_DATE = _rec(
    "promise-date",
    "Enter the day and the month you will pay, as four digits. For example, for the fifth "
    "of March, press 0 5 0 3.",
    "Marque el día y el mes en que pagará, en cuatro dígitos. Por ejemplo, para el cinco de "
    "marzo, marque 0 5 0 3.")
DATE_INVALID = _rec("date-invalid", "That date is not valid.", "Esa fecha no es válida.")
DATE_PAST = _rec("date-past", "That date has already passed.", "Esa fecha ya pasó.")
DATE_TOO_LATE = _rec("date-too-late", "That date is too far away. The latest date is",
                     "Esa fecha es muy lejana. La fecha más lejana posible es el")
YOU_PROMISE = _rec("you-promise", "You promise to pay", "Usted se compromete a pagar")
ON_DATE = _rec("on", "on", "el")
OF = _rec("of", "of", "de")  # "15 de marzo"; English says "March 15"
PROMISE_MENU = _rec("promise-menu", "To confirm, press 1. To change the date, press 2.",
                    "Para confirmar, pulse 1. Para cambiar la fecha, pulse 2.")
PROMISE_RECORDED = _rec("promise-recorded", "Thank you. Your promise to pay is recorded.",
                        "Gracias. Su compromiso de pago ha quedado registrado.")

RECORDINGS: tuple[Recording, ...] = (
    BALANCE, OPTION_FULL, OPTION_SETTLE, PRESS_2, OPTION_PLAN, MONTHLY_OF, PRESS_3,
    OPTION_PROMISE, AND, CENTS, PLAN_FIRST, PLAN_TODAY, PLAN_REST, PLAN_CONSENT, CARD_NUMBER,
    CARD_INVALID, EXPIRY, EXPIRY_INVALID, EXPIRED, CVV, CVV_AMEX, CVV_INVALID, NO_ENTRY,
    PAYING_WITH, ENDING_IN, THE_AMOUNT, CONFIRM_MENU, WAIT, *BRANDS.values(), PAYMENT_OF,
    APPROVED_CARD, REFERENCE, PLAN_SET_UP, THANK_YOU, DECLINED, ANOTHER_CARD, PROMISE_ON_2,
    GATEWAY_DOWN, PROMISE_ON_1, NOT_TAKEN, PROMISE_DATE, DATE_INVALID, DATE_PAST,
    DATE_TOO_LATE, YOU_PROMISE, ON_DATE, OF, PROMISE_MENU, PROMISE_RECORDED)

# Asterisk's own sounds the flow relies on: digits (`digits:` media), the
# words `number:` media says amounts with (up to millions; Spanish also
# uses a few sounds of its own that English lacks, left out so that the
# check does not ask English for them), and the months.
DIGITS = tuple(f"digits/{n}" for n in range(10))
NUMBERS = (*(f"digits/{n}" for n in range(10, 21)), *(f"digits/{n}" for n in range(30, 100, 10)),
           "digits/hundred", "digits/thousand", "digits/million")
MONTHS = tuple(f"digits/mon-{n}" for n in range(12))
ASTERISK_SOUNDS = (*DIGITS, *NUMBERS, *MONTHS)


def media_of(name: str) -> str:
    """ARI media playing an Asterisk sound. (ivr.actions.sound says the
    same; this module stays free of it so that ivr.sounds, which every
    `recobro sounds check` imports, needs nothing but the words.)"""
    return f"sound:{name}"


def amount_media(amount: Money) -> list[str]:
    """ARI media saying an amount: "1234 and 50 cents" (whole units with
    `number:`, the cents only when there are some; "50 cents" alone below
    one unit). The currency is not named."""
    media = [] if amount.units == 0 and amount.fraction else number_media(amount.units)
    if amount.fraction:
        if media:
            media.append(media_of(AND.sound))
        media += [f"number:{amount.fraction}", media_of(CENTS.sound)]
    return media


def date_media(day: date, language: str) -> list[str]:
    """ARI media saying a day and month (the year is implied: a promise is
    within months): "March 15" in English, "15 de marzo" in Spanish, with
    Asterisk's month sounds (`digits/mon-0` is January). ARI has no `date:`
    media."""
    month = media_of(f"digits/mon-{day.month - 1}")
    if language == "en":
        return [month, f"number:{day.day}"]
    return [f"number:{day.day}", media_of(OF.sound), month]


def digits_of(text: str) -> str:
    """ARI media saying the digits of text one by one (a card's last four,
    a receipt number); empty when it has none."""
    digits = "".join(ch for ch in text if ch.isascii() and ch.isdigit())
    return f"digits:{digits}" if digits else ""
