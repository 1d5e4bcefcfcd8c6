"""Card rules for keypad capture: Luhn, brands on Stripe's published test
cards, expiry edges, CVV lengths, and a card that never shows itself."""

import ast
import copy
import pickle
import sys
from datetime import date
from pathlib import Path

import pytest

from payment_ivr.card import (
    Brand,
    Card,
    Expiry,
    Problem,
    WipedCard,
    brand_of,
    cvv_length,
    cvv_problem,
    last_four,
    luhn_ok,
    number_problem,
    read_expiry,
    read_number,
)

STRIPE_TEST_CARDS = {
    "4242424242424242": Brand.VISA,
    "4000056655665556": Brand.VISA,  # debit
    "5555555555554444": Brand.MASTERCARD,
    "2223003122003222": Brand.MASTERCARD,  # 2-series
    "5200828282828210": Brand.MASTERCARD,  # debit
    "378282246310005": Brand.AMEX,
    "371449635398431": Brand.AMEX,
    "6011111111111117": Brand.DISCOVER,
    "6555900000604105": Brand.DISCOVER,
    "3056930009020004": Brand.DINERS,
    "36227206271667": Brand.DINERS,  # 14 digits
    "3566002020360505": Brand.JCB,
    "6200000000000005": Brand.UNIONPAY,
    "6205500000000000004": Brand.UNIONPAY,  # 19 digits
}


@pytest.mark.parametrize(("number", "brand"), STRIPE_TEST_CARDS.items())
def test_stripe_test_cards_pass_and_have_their_brand(number, brand):
    assert luhn_ok(number)
    assert number_problem(number) is None
    assert brand_of(number) is brand
    card = read_number(number)
    assert isinstance(card, Card) and card.brand is brand and card.last4 == number[-4:]


def test_luhn():
    assert luhn_ok("79927398713")
    assert not luhn_ok("79927398710")
    assert not luhn_ok("4242424242424241")  # one digit off
    assert not luhn_ok("4242424242424224")  # two digits swapped
    assert not luhn_ok("") and not luhn_ok("42a2") and not luhn_ok("４２４２")


@pytest.mark.parametrize(("number", "problem"), [
    ("4242424242424241", Problem.LUHN),
    ("424242424242", Problem.LENGTH),  # 12 digits
    ("42424242424242424242", Problem.LENGTH),  # 20 digits
    ("37828224631000", Problem.LENGTH),  # Amex is 15
    ("55555555555544440", Problem.LENGTH),  # Mastercard is 16
    ("4242 4242 4242 4242", Problem.NOT_DIGITS),
    ("4242*42424242424242", Problem.NOT_DIGITS),
    ("", Problem.NOT_DIGITS),
])
def test_what_is_wrong_with_a_number(number, problem):
    assert number_problem(number) is problem
    assert read_number(number) is problem


def test_an_unknown_range_is_left_to_the_gateway():
    assert brand_of("9000000000000001") is Brand.UNKNOWN
    assert number_problem("9000000000000001") is None  # Luhn-valid, 16 digits
    assert cvv_length(Brand.UNKNOWN) == 3


TODAY = date(2026, 6, 15)


@pytest.mark.parametrize(("mmyy", "expected"), [
    ("0626", Expiry(6, 2026)),  # this month: still valid
    ("1226", Expiry(12, 2026)),
    ("0127", Expiry(1, 2027)),
    ("0546", Expiry(5, 2046)),  # 20 years on
    ("0526", Problem.EXPIRED),  # last month
    ("1225", Problem.EXPIRED),
    ("0047", Problem.MONTH),
    ("1326", Problem.MONTH),
    ("0147", Problem.TOO_FAR),
    ("626", Problem.NOT_DIGITS),
    ("06/26", Problem.NOT_DIGITS),
    ("", Problem.NOT_DIGITS),
])
def test_expiry(mmyy, expected):
    assert read_expiry(mmyy, TODAY) == expected


def test_expiry_across_the_new_year():
    new_year = date(2027, 1, 1)
    assert read_expiry("1226", new_year) is Problem.EXPIRED
    assert read_expiry("0127", new_year) == Expiry(1, 2027)
    assert read_expiry("1226", date(2026, 12, 31)) == Expiry(12, 2026)


def test_cvv_three_digits_four_for_amex():
    assert cvv_length(Brand.AMEX) == 4 and cvv_length(Brand.VISA) == 3
    assert cvv_problem("123", Brand.VISA) is None
    assert cvv_problem("1234", Brand.AMEX) is None
    assert cvv_problem("1234", Brand.VISA) is Problem.CVV_LENGTH
    assert cvv_problem("123", Brand.AMEX) is Problem.CVV_LENGTH
    assert cvv_problem("12", Brand.MASTERCARD) is Problem.CVV_LENGTH
    assert cvv_problem("12a", Brand.VISA) is Problem.NOT_DIGITS
    assert last_four("4242424242424242") == "4242"


def test_a_card_never_shows_its_number_expiry_or_cvv():
    card = Card("4242424242424242").with_expiry(Expiry(12, 2034)).with_cvv("123")
    assert card.complete and card.number == "4242424242424242" and card.cvv == "123"
    for shown in (repr(card), str(card), f"{card}", repr([card]), repr(card.expiry)):
        assert "424242424242" not in shown and "123" not in shown
        assert "12" not in shown and "2034" not in shown and "34" not in shown
    assert repr(card) == "Card(visa ending 4242)"
    with pytest.raises(TypeError):
        pickle.dumps(card)
    with pytest.raises(TypeError):
        copy.deepcopy(card)


def test_a_bad_card_is_refused_without_its_digits():
    with pytest.raises(ValueError, match="luhn") as refused:
        Card("4242424242424241")
    assert "4242" not in str(refused.value)
    with pytest.raises(ValueError, match="CVV") as refused:
        Card("378282246310005", cvv="123")
    assert "123" not in str(refused.value)


def test_wipe_drops_the_secrets_and_a_wiped_card_cannot_be_read():
    card = Card("378282246310005", Expiry(1, 2030), "1234")
    card.wipe()
    assert card.wiped and not card.complete
    assert card.brand is Brand.AMEX and card.last4 == "0005"  # what a person may see stays
    for read in (lambda: card.number, lambda: card.cvv, lambda: card.expiry):
        with pytest.raises(WipedCard):
            read()


# The gateway adapter may also speak HTTP; it alone.
ADAPTER_IMPORTS = {"stripe_gateway.py": {"aiohttp"}}


def test_the_pci_package_imports_only_pure_ivr_modules_and_the_standard_library():
    allowed = {"ivr.actions", "ivr.recordings", "ivr.numbers", "payment_ivr", "__future__"}
    refused = {"logging", "pickle", "shelve"}  # nothing here logs or keeps a card
    package = Path(__file__).parents[2] / "payment_ivr"
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert name in allowed or top == "payment_ivr" or (
                    top in sys.stdlib_module_names and top not in refused
                ) or top in ADAPTER_IMPORTS.get(source.name, ()), f"{source.name} imports {name}"
