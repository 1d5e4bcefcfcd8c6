"""`recobro messages on` refuses a setting that cannot be, naming it,
before it reaches the database."""

import pytest

from dialer.cli import main


@pytest.mark.parametrize("words, error", [
    (["--trigger", "machine", "--days-before", "3"],
     "messages on: days-before: only for the pre_due trigger"),
    (["--trigger", "pre_due", "--days-before", "31"],
     "messages on: days-before: 31 days, 1 to 30"),
    (["--trigger", "pre_due", "--within", "10"],
     "messages on: within: only for the no_interaction trigger"),
])
def test_a_setting_that_cannot_be_is_refused_naming_it(words, error, capsys) -> None:
    assert main(["messages", "on", "--campaign", "spring", "--channel", "sms", *words]) == 2
    assert error in capsys.readouterr().err
