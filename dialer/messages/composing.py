"""A message for a real account: the template version its campaign,
segment, trigger, channel and language call for, its payment link signed,
rendered. The preview and (later) the sender compose through here, so a
preview is the message sent."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from dialer.errors import ConfigError
from dialer.messages.links import Purpose, sign_link
from dialer.messages.model import Channel, Trigger
from dialer.messages.sms import SmsSize, measure
from dialer.messages.store import (
    Db,
    PreviewAccount,
    TemplateVersion,
    current_template,
    preview_account,
)
from dialer.messages.templates import (
    Rendered,
    TemplateKey,
    account_values,
    allowed_variables,
    render,
    sample_values,
)
from dialer.settings import PaymentLinkSettings


@dataclass(frozen=True)
class Composed:
    template: TemplateVersion
    rendered: Rendered
    channel: Channel
    link: str

    @property
    def sms(self) -> SmsSize | None:
        """An SMS's encoding and segments (measured when asked: the sender
        does not need them, its channel measures what it sends)."""
        return measure(self.rendered.body) if self.channel is Channel.SMS else None


def link_expiry(now: datetime, lifetime_days: int) -> datetime:
    """When a link made at now expires: the configured days on, to the end
    of that day (UTC), so that links made the same day (a preview, the
    message sent) are the same link."""
    last = (now.astimezone(UTC) + timedelta(days=lifetime_days)).date()
    return datetime.combine(last + timedelta(days=1), time(), UTC)


def payment_link(settings: PaymentLinkSettings, token: str, purpose: Purpose,
                 now: datetime) -> str:
    """A signed link for the account of token, lasting the configured days
    from now."""
    expires_at = link_expiry(now, settings.lifetime_days)
    return sign_link(settings.base_url, settings.key, token, purpose, expires_at)


async def compose(db: Db, settings: PaymentLinkSettings, campaign: str, reference: str,
                  trigger: Trigger, channel: Channel, now: datetime, *,
                  language: str | None = None, event: Mapping[str, str] | None = None
                  ) -> Composed:
    """The message of trigger by channel for the account of reference in
    campaign, in its language (or language), from the template for its
    segment (else any segment). event holds the trigger's own values (an
    amount, a date); None takes sample ones, for a preview."""
    account = await preview_account(db, campaign, reference)
    return await compose_for(db, settings, campaign, account, trigger, channel, now,
                             language=language, event=event)


async def compose_for(db: Db, settings: PaymentLinkSettings, campaign: str,
                      account: PreviewAccount, trigger: Trigger, channel: Channel,
                      now: datetime, *, language: str | None = None,
                      event: Mapping[str, str] | None = None,
                      templates: dict[TemplateKey, TemplateVersion | None] | None = None
                      ) -> Composed:
    """compose, for an account already read. templates: the templates
    already found (a sender's, for one round), filled as they are found."""
    language = language or account.language
    key = TemplateKey(campaign, account.segment, trigger, channel, language)
    if templates is not None and key in templates:
        template = templates[key]
    else:
        template = await current_template(db, key)
        if templates is not None:
            templates[key] = template
    if template is None:
        raise ConfigError(f"no template for {key} (nor for any segment): save one with "
                          "`recobro template set`")
    link = payment_link(settings, account.link_token, Purpose.PAY, now)
    given = sample_values(trigger, channel, language) if event is None else event
    values = {**given,
              **account_values(account.view, channel, language, link)}
    allowed = allowed_variables(trigger)
    rendered = render(trigger, channel, language, template.body, template.subject,
                      {name: value for name, value in values.items() if name in allowed})
    return Composed(template, rendered, channel, link)
