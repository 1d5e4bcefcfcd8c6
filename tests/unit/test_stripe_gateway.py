"""The Stripe adapter's requests and its reading of answers, against a
scripted HTTP server on loopback (the real mock is in
tests/e2e/test_payment_gateway.py): the form encoding with the MOTO flag
and the metadata, an Idempotency-Key derived from the attempt's on every
POST, the key as a bearer token, and each kind of failure as an answer."""

from __future__ import annotations

import socket
from datetime import date

import pytest
from aiohttp import web

from payment_ivr.card import Card, read_expiry
from payment_ivr.gateway import Charged, ChargeMetadata, GatewayError, Refused
from payment_ivr.stripe_gateway import StripeGateway
from payment_ivr.terms import Money

KEY = "sk_test_unit"
METADATA = ChargeMetadata("cap-1", "ACC-1")


def card() -> Card:
    return Card("4242424242424242", read_expiry("1230", date(2026, 12, 2)), "123")


@pytest.fixture
async def server():
    """A server answering each path with its scripted (status, JSON) and
    recording what it was sent."""
    script: dict[str, tuple[int, object]] = {}
    seen: list[tuple[str, str, dict, dict]] = []

    async def handle(request: web.Request) -> web.Response:
        form = dict(await request.post())
        seen.append((request.method, request.path, dict(request.headers), form))
        status, body = script.get(request.path, (404, {"error": {"type": "invalid"}}))
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", script, seen
    await runner.cleanup()


SUCCEEDED = {"id": "pi_1", "status": "succeeded", "metadata": {}}


async def test_a_payment_is_three_posts_with_derived_keys_and_the_moto_flag(server):
    url, script, seen = server
    script.update({"/v1/payment_methods": (200, {"id": "pm_1"}),
                   "/v1/payment_intents": (200, {"id": "pi_1",
                                                 "status": "requires_confirmation"}),
                   "/v1/payment_intents/pi_1/confirm": (200, SUCCEEDED)})
    async with StripeGateway(url, KEY) as gateway:
        answer = await gateway.authorise(card(), Money(1050, "USD"), "k1", METADATA)
    assert answer == Charged("visa", "4242", "pi_1")
    assert [(m, p, h["Idempotency-Key"]) for m, p, h, _ in seen] == [
        ("POST", "/v1/payment_methods", "k1-pm"), ("POST", "/v1/payment_intents", "k1-pi"),
        ("POST", "/v1/payment_intents/pi_1/confirm", "k1-confirm")]
    assert all(h["Authorization"] == f"Bearer {KEY}" for _, _, h, _ in seen)
    method, intent = seen[0][3], seen[1][3]
    assert method == {"type": "card", "card[number]": "4242424242424242",
                      "card[exp_month]": "12", "card[exp_year]": "2030", "card[cvc]": "123"}
    assert intent == {"amount": "1050", "currency": "usd", "payment_method": "pm_1",
                      "payment_method_options[card][moto]": "true",
                      "metadata[recobro_idempotency_key]": "k1",
                      "metadata[capture_id]": "cap-1", "metadata[account_reference]": "ACC-1",
                      "confirm": "false"}
    # The card's data is in one request body only.
    assert not any("4242424242424242" in str(form) for _, _, _, form in seen[1:])


async def test_a_decline_is_the_gateways_reason(server):
    url, script, _ = server
    script.update({"/v1/payment_methods": (200, {"id": "pm_1"}),
                   "/v1/payment_intents": (200, {"id": "pi_1",
                                                 "status": "requires_confirmation"}),
                   "/v1/payment_intents/pi_1/confirm": (402, {"error": {
                       "code": "card_declined", "decline_code": "insufficient_funds",
                       "payment_intent": {"id": "pi_1"}}})})
    async with StripeGateway(url, KEY) as gateway:
        answer = await gateway.authorise(card(), Money(1050), "k1", METADATA)
    assert answer == Refused("insufficient_funds", "pi_1")


@pytest.mark.parametrize("status, body, retry, may_have_charged", [
    (401, {"error": {"type": "invalid_request_error"}}, False, False),  # a wrong key
    (400, {"error": {"type": "invalid_request_error"}}, False, False),
    (429, {"error": {"code": "rate_limit"}}, True, False),
    (500, {"error": {"type": "api_error"}}, True, True),
    (502, "<html>bad gateway</html>", True, True),
])
async def test_errors_say_whether_to_retry_and_whether_it_may_have_charged(
        server, status, body, retry, may_have_charged):
    url, script, _ = server
    script["/v1/payment_methods"] = (status, body)
    async with StripeGateway(url, KEY) as gateway:
        answer = await gateway.authorise(card(), Money(1050), "k1", METADATA)
    assert isinstance(answer, GatewayError)
    assert (answer.retry, answer.may_have_charged) == (retry, may_have_charged)
    assert "4242" not in answer.reason and KEY not in repr(gateway)


async def test_nothing_listening_is_a_gateway_never_reached():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with StripeGateway(f"http://127.0.0.1:{port}", KEY) as gateway:
        answer = await gateway.authorise(card(), Money(1050), "k1", METADATA)
    assert answer == GatewayError("cannot connect", may_have_charged=False, retry=True)


async def test_a_key_sent_before_is_looked_up_before_anything_is_charged(server):
    url, script, seen = server
    script.update({"/v1/payment_methods": (500, {"error": {"type": "api_error"}}),
                   "/v1/payment_intents": (200, {"data": [
                       {**SUCCEEDED, "metadata": {"recobro_idempotency_key": "k1"}}],
                       "has_more": False})})
    async with StripeGateway(url, KEY) as gateway:
        first = await gateway.authorise(card(), Money(1050), "k1", METADATA)
        assert isinstance(first, GatewayError)
        again = await gateway.authorise(card(), Money(1050), "k1", METADATA)
    assert again == Charged("visa", "4242", "pi_1")
    assert [(m, p) for m, p, _, _ in seen] == [("POST", "/v1/payment_methods"),
                                               ("GET", "/v1/payment_intents")]
