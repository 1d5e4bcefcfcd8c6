"""The card gateway's settings: URL, the key from the environment or a
file (one of them), the request timeout; each error names its variable and
never quotes the key."""

from __future__ import annotations

import pytest

from dialer.errors import ConfigError
from dialer.settings import load_payment_gateway_settings, secrets_of

KEY = "sk_test_s3cretkey"
GOOD = {"RECOBRO_PAYMENT_GATEWAY_URL": "http://127.0.0.1:15420",
        "RECOBRO_PAYMENT_GATEWAY_KEY": KEY}


def test_defaults_and_the_key_never_shown():
    settings = load_payment_gateway_settings(GOOD)
    assert (settings.url, settings.key, settings.timeout_s) == \
        ("http://127.0.0.1:15420", KEY, 10.0)
    assert KEY not in repr(settings)
    assert KEY in secrets_of(GOOD)


def test_the_key_from_a_file(tmp_path):
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    env = {"RECOBRO_PAYMENT_GATEWAY_URL": "https://api.stripe.com",
           "RECOBRO_PAYMENT_GATEWAY_KEY_FILE": str(path)}
    assert load_payment_gateway_settings(env).key == KEY


@pytest.mark.parametrize("env, named", [
    ({"RECOBRO_PAYMENT_GATEWAY_KEY": KEY}, "RECOBRO_PAYMENT_GATEWAY_URL is not set"),
    ({"RECOBRO_PAYMENT_GATEWAY_URL": "http://127.0.0.1:1"}, "RECOBRO_PAYMENT_GATEWAY_KEY is"),
    ({**GOOD, "RECOBRO_PAYMENT_GATEWAY_URL": "ftp://x"}, "RECOBRO_PAYMENT_GATEWAY_URL="),
    ({**GOOD, "RECOBRO_PAYMENT_GATEWAY_URL": "https://u:p@x"}, "must not hold a user"),
    ({**GOOD, "RECOBRO_PAYMENT_GATEWAY_KEY_FILE": "/nonexistent"}, "not both"),
    ({"RECOBRO_PAYMENT_GATEWAY_URL": "http://x", "RECOBRO_PAYMENT_GATEWAY_KEY_FILE":
      "/nonexistent/key"}, "RECOBRO_PAYMENT_GATEWAY_KEY_FILE='/nonexistent/key': cannot read"),
    ({**GOOD, "RECOBRO_PAYMENT_GATEWAY_TIMEOUT_S": "0"}, "RECOBRO_PAYMENT_GATEWAY_TIMEOUT_S="),
    ({**GOOD, "RECOBRO_PAYMENT_GATEWAY_KEY": "sk test"}, "holds a space"),
])
def test_errors_name_the_variable(env, named):
    with pytest.raises(ConfigError, match=named.replace("?", r"\?")) as raised:
        load_payment_gateway_settings(env)
    assert KEY not in str(raised.value)


def test_an_empty_key_file_is_named(tmp_path):
    path = tmp_path / "key"
    path.write_text("\n")
    env = {"RECOBRO_PAYMENT_GATEWAY_URL": "http://x", "RECOBRO_PAYMENT_GATEWAY_KEY_FILE": str(path)}
    with pytest.raises(ConfigError, match="first line is empty"):
        load_payment_gateway_settings(env)
