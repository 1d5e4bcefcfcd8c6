"""The demo's texts: the predictive campaign sends a text to each debtor who
answered and hung up without a word (its templates saved as the
collections team would, in Spanish and English); after the calls, the
sender (the code `recobro messages run` runs) hands them to the lab's
Kannel, and the demo prints what fakesmsc, the phones' side, received and
what Kannel's delivery reports said."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import asyncpg

from dialer.engine import utc_now
from dialer.messages.callbacks import serve as serve_callbacks
from dialer.messages.intake import set_trigger
from dialer.messages.model import Channel, Trigger
from dialer.messages.providers import configured_channels
from dialer.messages.sender import Sender
from dialer.messages.store import save_template
from dialer.messages.templates import TemplateKey
from dialer.messages.triggers import TriggerSetting
from dialer.settings import load_message_channel_settings, load_payment_link_settings
from lab import kannel
from lab.config import LabConfig

SILENT_WITHIN_S = 10
TEMPLATES = {
    "es": "Hola {{ first_name }}: le llamamos por su cuenta de {{ balance }}. Puede pagar en "
          "{{ payment_link }}\n{{ opt_out }}",
    "en": "Hi {{ first_name }}, we called about your balance of {{ balance }}. Pay at "
          "{{ payment_link }}\n{{ opt_out }}",
}
REPORTS_WITHIN_S = 10.0


async def switch_on(pool: asyncpg.Pool, campaign: str, prefix: str) -> None:
    """The campaign texts its silent hang-ups; the demo's debtors (accounts
    of prefix) consented to texts."""
    await set_trigger(pool, campaign, TriggerSetting(Trigger.NO_INTERACTION, Channel.SMS,
                                                     SILENT_WITHIN_S))
    for language, body in TEMPLATES.items():
        await save_template(pool, TemplateKey(campaign, "", Trigger.NO_INTERACTION, Channel.SMS,
                                              language), body, None, "demo")
    await pool.execute("UPDATE phones p SET sms_capable = true, consent = true FROM accounts a "
                       "WHERE a.id = p.account_id AND a.reference LIKE $1 || '%'", prefix)


def _texts(found: list[kannel.Received]) -> Mapping[str, str]:
    """fakesmsc's texts by number."""
    return {r.receiver.lstrip("+"): r.decoded() for r in found}


_HANDED = ("SELECT status, recipient FROM messages WHERE campaign_id = $1 "
           "AND status IN ('sent', 'delivered', 'undelivered')")


async def _all_arrived(pool: asyncpg.Pool, cfg: LabConfig, campaign_id: int, before: int
                       ) -> bool:
    handed = await pool.fetch(_HANDED, campaign_id)
    texts = _texts(kannel.received(cfg)[before:])
    return all(r["status"] != "sent" and (r["recipient"] or "").lstrip("+") in texts
               for r in handed)


async def send_and_show(pool: asyncpg.Pool, cfg: LabConfig, campaign_id: int) -> str:
    """Send what is due, as `recobro messages run --once` does, with the
    callback listener up for Kannel's reports; what went, as a table."""
    settings = load_message_channel_settings()
    channels = configured_channels(settings)
    before = len(kannel.received(cfg))
    callback = settings.callback
    listener = await serve_callbacks(pool, callback.host, callback.port, callback.token)
    try:
        sender = Sender(pool, channels, load_payment_link_settings(), utc_now)
        tally = await sender.drain()
        # Kannel's reports come back, and fakesmsc writes what it got.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REPORTS_WITHIN_S
        while loop.time() < deadline and not await _all_arrived(pool, cfg, campaign_id, before):
            await asyncio.sleep(0.2)
    finally:
        await listener.cleanup()
        for channel in channels.values():
            await channel.close()
    rows = await pool.fetch(
        "SELECT a.reference, m.status, m.recipient, m.refused_rule FROM messages m "
        "JOIN accounts a ON a.id = m.account_id WHERE m.campaign_id = $1 ORDER BY m.id",
        campaign_id)
    texts = _texts(kannel.received(cfg)[before:])
    lines = [(f"texts to debtors who answered and hung up within {SILENT_WITHIN_S} s "
              f"(sender: {tally}; fakesmsc is the phones' side):")]
    for row in rows:
        text = texts.get((row["recipient"] or "").lstrip("+"), "")
        shown = text.replace("\n", " / ")
        why = f" ({row['refused_rule']})" if row["refused_rule"] else ""
        lines.append(f"  {row['reference']:<22} {row['status']:<11}{why} "
                     f"{row['recipient'] or '':<14} {shown[:110]}")
    if not rows:
        lines.append("  none: no debtor hung up without a word this time")
    return "\n".join(lines)
