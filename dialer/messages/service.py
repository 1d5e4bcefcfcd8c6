"""Running `recobro messages run`: the sender (dialer.messages.sender) with
the configured channels, and the callback listener Kannel reports
deliveries and debtors' replies to (dialer.messages.callbacks), until
SIGINT or SIGTERM. Several senders may run; one of them listens."""

from __future__ import annotations

from aiohttp import web

from dialer.engine import utc_now
from dialer.errors import ConfigError
from dialer.messages.callbacks import serve as serve_callbacks
from dialer.messages.providers import configured_channels
from dialer.messages.sender import Sender, Tally
from dialer.metrics.exporter import MetricsExporter
from dialer.process import started, stop_requested
from dialer.settings import (
    HttpSmsSettings,
    load_database_url,
    load_message_channel_settings,
    load_metrics_settings,
    load_payment_link_settings,
)
from dialer.store.database import open_pool

# The sender's lock, the wave being sent, intake and claims, the callbacks'
# writes: the messages in the channels' hands hold no connection.
POOL_SIZE = 8


async def run(*, once: bool, listen: bool) -> Tally:
    """Send until stopped (once: until nothing is due), listening for
    callbacks unless told not to; what the sender did."""
    channel_settings = load_message_channel_settings()
    links = load_payment_link_settings()
    metrics = load_metrics_settings()
    channels = configured_channels(channel_settings)
    if not channels:
        raise ConfigError("no channel is configured: set RECOBRO_SMS_PROVIDER (kannel or "
                          "http) or RECOBRO_SMTP_HOST")
    pool = await open_pool(load_database_url(), max_size=POOL_SIZE)
    listener: web.AppRunner | None = None
    try:
        callback = channel_settings.callback
        if listen:
            try:
                sms = channel_settings.sms
                listener = await serve_callbacks(
                    pool, callback.host, callback.port, callback.token,
                    report_fields=(sms.id_field, sms.status_field)
                    if isinstance(sms, HttpSmsSettings) else ("id", "status"))
            except OSError as error:
                raise ConfigError(
                    f"cannot listen on {callback.host}:{callback.port} "
                    "(RECOBRO_MESSAGE_CALLBACK_HOST, RECOBRO_MESSAGE_CALLBACK_PORT): "
                    f"{error.strerror}; another sender may be listening (--no-listen)") from None
        sender = Sender(pool, channels, links, utc_now)
        print(f"recobro messages: sending by {', '.join(c.value for c in channels)}"
              + (f"; callbacks on {callback.host}:{callback.port}" if listener else ""),
              flush=True)
        if once:
            return await sender.drain()
        started()
        async with MetricsExporter(metrics, "messages"):
            return await sender.run(stop_requested())
    finally:
        if listener is not None:
            await listener.cleanup()
        for channel in channels.values():
            await channel.close()
        await pool.close()
