"""The channels' settings: SMS by Kannel or an HTTP provider (or none),
e-mail by SMTP (or none), the callback listener; every error names its
variable and never quotes a secret; configured_channels builds the
adapters the settings name."""

from __future__ import annotations

import pytest

from dialer.errors import ConfigError
from dialer.messages.email import EmailChannel
from dialer.messages.http_sms import HttpSmsChannel
from dialer.messages.kannel import KannelChannel
from dialer.messages.model import Channel
from dialer.messages.providers import configured_channels
from dialer.settings import (
    HttpSmsSettings,
    KannelSettings,
    load_message_channel_settings,
    secrets_of,
)

TOKEN = "cb-T0ken-for-the-tests-0123"
PASSWORD = "k4nnel-Pass-for-tests"
SMTP_PASSWORD = "smtp-Pass-for-tests"
KANNEL = {"RECOBRO_SMS_PROVIDER": "kannel", "RECOBRO_KANNEL_URL": "http://127.0.0.1:13013/",
          "RECOBRO_KANNEL_USER": "recobro", "RECOBRO_KANNEL_PASSWORD": PASSWORD,
          "RECOBRO_MESSAGE_CALLBACK_TOKEN": TOKEN}
HTTP = {"RECOBRO_SMS_PROVIDER": "http", "RECOBRO_SMS_HTTP_URL": "https://sms.example.com/v1/sms",
        "RECOBRO_SMS_HTTP_TOKEN": "http-T0ken-for-tests", "RECOBRO_SMS_HTTP_ID_FIELD": "data.id",
        "RECOBRO_SMS_SENDER": "Recobro"}
SMTP = {"RECOBRO_SMTP_HOST": "smtp.example.com", "RECOBRO_EMAIL_FROM": "cobranza@example.com",
        "RECOBRO_SMTP_USER": "cobranza", "RECOBRO_SMTP_PASSWORD": SMTP_PASSWORD}


def test_nothing_set_configures_no_channel() -> None:
    settings = load_message_channel_settings({})
    assert (settings.sms, settings.email) == (None, None)
    assert (settings.callback.host, settings.callback.port, settings.callback.public_url) == (
        "127.0.0.1", 8481, "http://127.0.0.1:8481")
    assert configured_channels(settings) == {}


def test_kannel_and_smtp() -> None:
    settings = load_message_channel_settings({**KANNEL, **SMTP,
                                              "RECOBRO_CALLER_ID": "+15550100000"})
    assert settings.sms == KannelSettings("http://127.0.0.1:13013", "recobro", PASSWORD,
                                          "+15550100000", 10.0)
    assert settings.email is not None
    assert (settings.email.host, settings.email.port, settings.email.starttls,
            settings.email.user) == ("smtp.example.com", 587, True, "cobranza")
    shown = repr(settings)
    assert PASSWORD not in shown and TOKEN not in shown and SMTP_PASSWORD not in shown
    for secret in (PASSWORD, TOKEN, SMTP_PASSWORD):
        assert secret in secrets_of({**KANNEL, **SMTP})
    channels = configured_channels(settings)
    assert (type(channels[Channel.SMS]), type(channels[Channel.EMAIL])) == (KannelChannel,
                                                                           EmailChannel)


def test_the_http_provider_and_secrets_from_files(tmp_path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("http-T0ken-from-a-file\n")
    env = {**HTTP, "RECOBRO_SMS_HTTP_TOKEN": "", "RECOBRO_SMS_HTTP_TOKEN_FILE": str(token_file),
           "RECOBRO_MESSAGE_PROVIDER_TIMEOUT_S": "3"}
    settings = load_message_channel_settings(env)
    assert settings.sms == HttpSmsSettings("https://sms.example.com/v1/sms",
                                           "http-T0ken-from-a-file", "Recobro", "data.id", 3.0)
    assert type(configured_channels(settings)[Channel.SMS]) is HttpSmsChannel


def test_the_listener_reached_at_its_public_url() -> None:
    settings = load_message_channel_settings({
        "RECOBRO_MESSAGE_CALLBACK_PORT": "9000",
        "RECOBRO_MESSAGE_CALLBACK_URL": "https://recobro.example.com/callbacks/"})
    assert (settings.callback.port, settings.callback.public_url) == (
        9000, "https://recobro.example.com/callbacks")


@pytest.mark.parametrize(("env", "named"), [
    ({"RECOBRO_SMS_PROVIDER": "twilio"}, "RECOBRO_SMS_PROVIDER='twilio': use kannel or http"),
    ({**KANNEL, "RECOBRO_MESSAGE_CALLBACK_TOKEN": "short"},
     "RECOBRO_MESSAGE_CALLBACK_TOKEN .*shorter than 16"),
    ({**KANNEL, "RECOBRO_KANNEL_PASSWORD": ""}, "RECOBRO_KANNEL_PASSWORD is not set"),
    ({**KANNEL, "RECOBRO_KANNEL_USER": ""}, "RECOBRO_KANNEL_USER is not set"),
    ({**KANNEL, "RECOBRO_KANNEL_URL": ""}, "RECOBRO_KANNEL_URL is not set"),
    ({**KANNEL, "RECOBRO_KANNEL_URL": "http://u:p@127.0.0.1:13013"}, "must not hold a user"),
    ({**KANNEL, "RECOBRO_KANNEL_URL": "127.0.0.1:13013"}, "RECOBRO_KANNEL_URL="),
    ({**KANNEL, "RECOBRO_SMS_SENDER": "Recobro Collections"}, "RECOBRO_SMS_SENDER="),
    ({**KANNEL, "RECOBRO_MESSAGE_CALLBACK_URL": "ftp://x"}, "RECOBRO_MESSAGE_CALLBACK_URL="),
    ({**KANNEL, "RECOBRO_MESSAGE_CALLBACK_PORT": "0"}, "RECOBRO_MESSAGE_CALLBACK_PORT="),
    ({**HTTP, "RECOBRO_SMS_HTTP_TOKEN": ""}, "RECOBRO_SMS_HTTP_TOKEN is not set"),
    ({**HTTP, "RECOBRO_SMS_HTTP_ID_FIELD": "data[0]"}, "RECOBRO_SMS_HTTP_ID_FIELD="),
    ({**HTTP, "RECOBRO_SMS_HTTP_STATUS_FIELD": "a b"}, "RECOBRO_SMS_HTTP_STATUS_FIELD="),
    ({**HTTP, "RECOBRO_MESSAGE_PROVIDER_TIMEOUT_S": "0"}, "RECOBRO_MESSAGE_PROVIDER_TIMEOUT_S="),
    ({**SMTP, "RECOBRO_EMAIL_FROM": ""}, "RECOBRO_EMAIL_FROM is not set"),
    ({**SMTP, "RECOBRO_EMAIL_FROM": "cobranza"}, "RECOBRO_EMAIL_FROM='cobranza'"),
    ({**SMTP, "RECOBRO_SMTP_PASSWORD": ""}, "RECOBRO_SMTP_USER and RECOBRO_SMTP_PASSWORD"),
    ({**SMTP, "RECOBRO_SMTP_STARTTLS": "no"}, "in clear"),
    ({**SMTP, "RECOBRO_SMTP_STARTTLS": "maybe"}, "RECOBRO_SMTP_STARTTLS='maybe': use yes or no"),
    ({**SMTP, "RECOBRO_SMTP_PORT": "70000"}, "RECOBRO_SMTP_PORT="),
])
def test_errors_name_the_variable(env, named: str) -> None:
    with pytest.raises(ConfigError, match=named) as raised:
        load_message_channel_settings(env)
    for secret in (PASSWORD, TOKEN, SMTP_PASSWORD, "http-T0ken-for-tests"):
        assert secret not in str(raised.value)


def test_no_starttls_is_allowed_on_loopback_with_a_password() -> None:
    settings = load_message_channel_settings({**SMTP, "RECOBRO_SMTP_HOST": "127.0.0.1",
                                              "RECOBRO_SMTP_STARTTLS": "no"})
    assert settings.email is not None and not settings.email.starttls
