"""The card gateway a process that takes payments talks to: Stripe's
PaymentIntents API at RECOBRO_PAYMENT_GATEWAY_URL (the lab's localstripe)."""

from __future__ import annotations

from dialer.settings import PaymentGatewaySettings
from payment_ivr.stripe_gateway import StripeGateway


def open_gateway(settings: PaymentGatewaySettings) -> StripeGateway:
    """The gateway of settings (close it when done: `async with`)."""
    return StripeGateway(settings.url, settings.key, settings.timeout_s)
