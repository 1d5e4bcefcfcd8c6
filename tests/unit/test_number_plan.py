import pytest

from lab.number_plan import (
    KEY_SCRIPT_STAY_SECONDS,
    Behaviour,
    lab_number,
    parse_lab_number,
)


@pytest.mark.parametrize("behaviour", list(Behaviour))
def test_every_behaviour_round_trips(behaviour):
    number = lab_number(behaviour, "42", serial=3)
    parsed = parse_lab_number(number)
    assert parsed.behaviour is behaviour
    assert parsed.parameter == "42"


def test_numbers_may_carry_any_prefix():
    assert parse_lab_number("+34911231200").behaviour is Behaviour.ANSWER_AND_STAY
    assert parse_lab_number("5215512343000").behaviour is Behaviour.BUSY


def test_stay_and_dtmf_parameters():
    assert parse_lab_number(lab_number(Behaviour.ANSWER_AND_STAY, "07")).stay_seconds == 7
    assert parse_lab_number(lab_number(Behaviour.ANSWER_AND_STAY, "00")).stay_seconds == 60
    assert parse_lab_number(lab_number(Behaviour.ANSWER_AND_SEND_DTMF, "19")).dtmf_digits == "19"
    assert parse_lab_number(lab_number(Behaviour.BUSY)).dtmf_digits == ""


def test_a_keying_debtor_reads_its_script_from_pp():
    parsed = parse_lab_number(lab_number(Behaviour.ANSWER_AND_KEY_SCRIPT, "02", serial=5))
    assert parsed.behaviour is Behaviour.ANSWER_AND_KEY_SCRIPT and parsed.key_script == "02"
    assert parsed.stay_seconds == KEY_SCRIPT_STAY_SECONDS
    assert parse_lab_number(lab_number(Behaviour.ANSWER_AND_STAY, "02")).key_script == ""


def test_every_digit_is_a_behaviour():
    assert {b.value for b in Behaviour} == set("0123456789")


@pytest.mark.parametrize("number, message", [
    ("12a4", "four trailing digits"),
    ("123", "four trailing digits"),
])
def test_bad_numbers_name_the_problem(number, message):
    with pytest.raises(ValueError, match=message):
        parse_lab_number(number)


def test_bad_parameter_is_refused():
    with pytest.raises(ValueError, match="two digits"):
        lab_number(Behaviour.ANSWER_AND_STAY, "5")
