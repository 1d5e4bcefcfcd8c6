"""The payment links' settings: the page's base URL, the signing key from
the environment or a file (one of them, 32 characters at least), the
links' lifetime; each error names its variable and never quotes the key."""

from __future__ import annotations

import pytest

from dialer.errors import ConfigError
from dialer.settings import load_payment_link_settings, secrets_of

KEY = "L1nk-k3y-for-the-tests-0123456789abcdef"
GOOD = {"RECOBRO_PAYMENT_LINK_URL": "https://pay.example.com/p", "RECOBRO_PAYMENT_LINK_KEY": KEY}


def test_defaults_and_the_key_never_shown() -> None:
    settings = load_payment_link_settings(GOOD)
    assert (settings.base_url, settings.key, settings.lifetime_days) == (
        "https://pay.example.com/p", KEY, 7.0)
    assert KEY not in repr(settings)
    assert KEY in secrets_of(GOOD)


def test_the_key_from_a_file(tmp_path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    env = {"RECOBRO_PAYMENT_LINK_URL": "http://127.0.0.1:8480/pay",
           "RECOBRO_PAYMENT_LINK_KEY_FILE": str(path), "RECOBRO_PAYMENT_LINK_DAYS": "2"}
    settings = load_payment_link_settings(env)
    assert (settings.key, settings.lifetime_days) == (KEY, 2.0)


@pytest.mark.parametrize(("env", "named"), [
    ({"RECOBRO_PAYMENT_LINK_KEY": KEY}, "RECOBRO_PAYMENT_LINK_URL is not set"),
    ({**GOOD, "RECOBRO_PAYMENT_LINK_URL": "https://x/p?a=1"}, "no user, query or fragment"),
    ({**GOOD, "RECOBRO_PAYMENT_LINK_URL": "ftp://x"}, "RECOBRO_PAYMENT_LINK_URL="),
    ({"RECOBRO_PAYMENT_LINK_URL": "https://x"}, "RECOBRO_PAYMENT_LINK_KEY .* is not set"),
    ({**GOOD, "RECOBRO_PAYMENT_LINK_KEY": "short"}, "shorter than 32 characters"),
    ({**GOOD, "RECOBRO_PAYMENT_LINK_KEY_FILE": "/nonexistent"}, "not both"),
    ({**GOOD, "RECOBRO_PAYMENT_LINK_DAYS": "365"}, "RECOBRO_PAYMENT_LINK_DAYS="),
])
def test_errors_name_the_variable(env, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as raised:
        load_payment_link_settings(env)
    assert KEY not in str(raised.value)
