"""What `recobro messages on|off|settings|dead|replay|history` do: switch a
campaign's messages on and off, see its settings, the dead letters and an
account's messages, and send a dead letter again."""

from __future__ import annotations

from datetime import UTC, datetime

from dialer.errors import ConfigError
from dialer.messages.intake import clear_trigger, set_trigger, trigger_settings
from dialer.messages.model import Channel, Trigger
from dialer.messages.store import (
    OutboxMessage,
    account_messages,
    campaign_id,
    dead_letters,
    replay,
)
from dialer.messages.triggers import TriggerSetting
from dialer.store.database import configured_database


def trigger_setting(trigger: str, channel: str, within: int | None = None,
                    days_before: int | None = None) -> TriggerSetting:
    """The setting from the command's words; ConfigError naming what is wrong."""
    try:
        return TriggerSetting(Trigger(trigger), Channel(channel), within, days_before)
    except ValueError as error:
        raise ConfigError(f"messages on: {error}") from None


def _condition(setting: TriggerSetting) -> str:
    """When the setting's message goes, beyond its trigger ('' if always)."""
    if setting.within_s:
        return f" when the debtor hangs up within {setting.within_s} s"
    if setting.days_before:
        return f" {setting.days_before} day(s) before the account's due date"
    return ""


def _line(message: OutboxMessage) -> str:
    why = message.refused_rule or message.last_error or ""
    to = f" to {message.recipient}" if message.recipient else ""
    return (f"{message.id:>8}  {message.trigger.value:<20} {message.channel.value:<5} "
            f"{message.status:<11} tries {message.attempts}{to}{f'  ({why})' if why else ''}")


async def switch_on(campaign: str, setting: TriggerSetting) -> int:
    async with configured_database() as pool:
        await set_trigger(pool, campaign, setting)
    print(f"campaign {campaign}: {setting.trigger.value} messages by {setting.channel.value}"
          f"{_condition(setting)}; each needs its template (`recobro template set`)")
    return 0


async def switch_off(campaign: str, trigger: str, channel: str) -> int:
    setting = trigger_setting(trigger, channel)
    async with configured_database() as pool:
        was_on = await clear_trigger(pool, campaign, setting.trigger, setting.channel)
    print(f"campaign {campaign}: {trigger} by {channel} "
          + ("off" if was_on else "was not on"))
    return 0


async def show_settings(campaign: str) -> int:
    async with configured_database() as pool:
        found = await campaign_id(pool, campaign)
        settings = (await trigger_settings(pool, [found])).get(found, [])
    for setting in settings:
        print(f"{setting.trigger.value} by {setting.channel.value}{_condition(setting)}")
    if not settings:
        print(f"campaign {campaign} sends no messages: switch one on with `recobro messages on`")
    return 0


async def show_dead_letters() -> int:
    async with configured_database() as pool:
        dead = await dead_letters(pool)
    for message in dead:
        print(_line(message))
    if not dead:
        print("no dead letters")
    return 0


async def replay_dead_letter(message_id: int) -> int:
    async with configured_database() as pool:
        done = await replay(pool, message_id, datetime.now(UTC))
    if not done:
        raise ConfigError(f"message {message_id} is not a dead letter "
                          "(`recobro messages dead` lists them)")
    print(f"message {message_id} is due again now")
    return 0


async def show_history(reference: str) -> int:
    async with configured_database() as pool:
        account = await pool.fetchval("SELECT id FROM accounts WHERE reference = $1", reference)
        if account is None:
            raise ConfigError(f"no account with reference {reference!r}")
        messages = await account_messages(pool, account)
    for message in messages:
        print(_line(message))
    if not messages:
        print(f"no messages to account {reference}")
    return 0
