"""The channels Recobro's settings configure: SMS by Kannel or an HTTP/JSON
provider (RECOBRO_SMS_PROVIDER), e-mail by SMTP (RECOBRO_SMTP_HOST)."""

from __future__ import annotations

from dialer.messages.channels import MessageChannel
from dialer.messages.email import EmailChannel
from dialer.messages.http_sms import HttpSmsChannel
from dialer.messages.kannel import KannelChannel
from dialer.messages.model import Channel
from dialer.settings import HttpSmsSettings, KannelSettings, MessageChannelSettings


def configured_channels(settings: MessageChannelSettings) -> dict[Channel, MessageChannel]:
    """One channel object per configured channel (a channel not configured
    is absent: its messages wait). The caller closes them."""
    channels: dict[Channel, MessageChannel] = {}
    if isinstance(settings.sms, KannelSettings):
        channels[Channel.SMS] = KannelChannel(settings.sms, settings.callback)
    elif isinstance(settings.sms, HttpSmsSettings):
        channels[Channel.SMS] = HttpSmsChannel(settings.sms)
    if settings.email is not None:
        channels[Channel.EMAIL] = EmailChannel(settings.email)
    return channels
