"""What `recobro template set|show|preview|list` do: save a template's next
version (refused with where it is wrong), show one version or all, render
one for a real account, list the latest of each."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from dialer.errors import ConfigError
from dialer.messages.composing import compose
from dialer.messages.model import Channel, Trigger
from dialer.messages.sms import measure
from dialer.messages.store import (
    TemplateVersion,
    latest_templates,
    save_template,
    template_versions,
)
from dialer.messages.templates import (
    EXTRA,
    TemplateKey,
    TemplateRefused,
    allowed_variables,
)
from dialer.settings import load_payment_link_settings
from dialer.store.database import configured_database


def template_key(campaign: str, segment: str, trigger: str, channel: str, language: str
                 ) -> TemplateKey:
    """The key from the command's words ('any' or '' for any segment)."""
    try:
        return TemplateKey(campaign, "" if segment == "any" else segment, Trigger(trigger),
                           Channel(channel), language)
    except ValueError as error:
        raise ConfigError(str(error)) from None


def read_body(text: str | None, path: Path | None) -> str:
    """The template's body: --text, or the file (UTF-8) --file names."""
    if (text is None) == (path is None):
        raise ConfigError("template set: give the body with --text or --file (one of them)")
    if text is not None:
        return text
    assert path is not None
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        why = getattr(error, "strerror", None) or "not UTF-8"
        raise ConfigError(f"--file {path}: cannot read it ({why})") from None


def _heading(version: TemplateVersion) -> str:
    by = f" by {version.author}" if version.author else ""
    return (f"{version.key} version {version.version} "
            f"({version.created_at:%Y-%m-%d %H:%M}{by})")


def _size_line(body: str, channel: Channel) -> str:
    return f"  SMS: {measure(body)}" if channel is Channel.SMS else f"  {len(body)} characters"


async def set_template(key: TemplateKey, body: str, subject: str | None, author: str) -> int:
    async with configured_database() as pool:
        try:
            saved = await save_template(pool, key, body, subject, author)
        except TemplateRefused as error:
            raise ConfigError(f"template {key} refused: {error}") from None
    print(f"saved {_heading(saved)}")
    print(_size_line(body, key.channel) + " (as written, before its variables are filled)")
    return 0


async def show_template(key: TemplateKey, version: int | None, every: bool) -> int:
    async with configured_database() as pool:
        versions = await template_versions(pool, key)
    if not versions:
        raise ConfigError(f"no template {key}: variables it may use: "
                          + ", ".join(allowed_variables(key.trigger)))
    if version is not None:
        chosen = [v for v in versions if v.version == version]
        if not chosen:
            raise ConfigError(f"template {key} has versions 1 to {versions[-1].version}, "
                              f"not {version}")
    else:
        chosen = versions if every else versions[-1:]
    for each in chosen:
        print(_heading(each))
        if each.subject is not None:
            print(f"Subject: {each.subject}")
        print(each.body)
    return 0


async def preview_template(campaign: str, reference: str, trigger: str, channel: str,
                           language: str | None) -> int:
    key = template_key(campaign, "any", trigger, channel, language or "es")
    settings = load_payment_link_settings()
    async with configured_database() as pool:
        try:
            composed = await compose(pool, settings, campaign, reference, key.trigger,
                                     key.channel, datetime.now(UTC), language=language)
        except TemplateRefused as error:
            raise ConfigError(f"template for {reference} did not render: {error}") from None
    print(f"{_heading(composed.template)} for account {reference}")
    if composed.rendered.subject is not None:
        print(f"Subject: {composed.rendered.subject}")
    print(composed.rendered.body)
    if composed.sms is not None:
        print(f"  SMS: {composed.sms}")
    sampled = sorted(EXTRA.get(key.trigger, {}))
    if sampled:
        print(f"  ({', '.join(sampled)}: sample values here; a message sent takes them from "
              "what fired it)")
    return 0


async def list_templates(campaign: str | None) -> int:
    async with configured_database() as pool:
        versions = await latest_templates(pool, campaign)
    for version in versions:
        print(_heading(version))
    if not versions:
        print("no templates" + (f" in campaign {campaign}" if campaign else ""))
    return 0
