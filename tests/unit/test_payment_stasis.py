"""Where a payment starts (issue 14): the "payment" Stasis flow an
engineer's dialplan sends a call to, and Payments.take, which the inbound
desk's pay key uses. Scripted call and database; the real runner on a
virtual clock. The gateway here is scripted: the e2e tests key real cards
over RFC 4733."""

from __future__ import annotations

from dialer.calls.events import RecordingMuted
from dialer.payments.stasis import NO_CAMPAIGN, PAYMENT_FLOW, Payments
from ivr.actions import sound
from payment_ivr import prompts as p
from payment_ivr.capture import Approved, Outcome
from payment_ivr.card import Brand
from payment_ivr.terms import Money, Option
from tests.unit import virtual_time
from tests.unit.scripted_call import CALL, ScriptedCall

VISA = "4242424242424242"


class Pool:
    """The rows the payment store asks for."""

    def __init__(self, account=(7, "ACC-7", "250.75", "USD", "en", "active", "", "UTC"),
                 terms=None):
        self.account, self.terms = account, terms
        self.asked: list[tuple] = []

    async def fetchrow(self, query: str, *args):
        self.asked.append(args)
        if "FROM accounts" in query:
            return self.account if self.account and args[0] in self.account[:2] else None
        return self.terms


def keys(*entries: str, gap: float = 3.0) -> list[tuple[float, str]]:
    """Each entry keyed gap seconds after the last, its keys 0.2 s apart."""
    return [(gap if i == 0 else 0.2, key) for entry in entries for i, key in enumerate(entry)]


APPROVED = (Approved("visa", "4242", "ch_123"),)


def run_payment(moves, pool, answers=APPROVED, **call_args):
    recorded: list = []
    sent: list = []

    def make_authoriser(context):
        async def authorise(effect):
            sent.append((context, effect.amount, effect.card.last4))
            return answers[min(len(sent), len(answers)) - 1]
        return authorise

    async def record(context, result):
        recorded.append((context, result))

    async def main():
        call = ScriptedCall(moves, **call_args)
        payments = Payments(call, pool, make_authoriser, record)
        assert call.flow[0] == PAYMENT_FLOW
        call.start()
        await call.flow[1](CALL, call.events)
        return call, payments

    call, _ = virtual_time.run(main())
    return call, recorded, sent


def test_a_dialplan_call_pays_the_balance_and_goes_back_to_the_dialplan():
    call, recorded, sent = run_payment(
        keys("1", VISA + "#", "1230", "123", "1"), Pool(),
        params={"flow": "payment", "account": "ACC-7", "language": "es"})
    assert call.answered and call.language == "es"  # the dialplan's language
    [(context, result)] = recorded
    assert (context.account_id, context.reference, context.call_id) == (7, "ACC-7", CALL)
    assert result.outcome is Outcome.PAID and result.option is Option.FULL
    assert (result.amount, result.brand, result.last4) == (Money(25075), Brand.VISA, "4242")
    assert sent == [(context, Money(25075), "4242")]
    assert call.hung_up == [] and call.given_back == [{"RECOBRO_PAYMENT": "paid"}]
    assert [e.muted for e in call.noted if isinstance(e, RecordingMuted)] == [True, False]
    assert call.mutes == [True, False]
    assert sound(p.THANK_YOU.sound) in call.played


def test_the_campaigns_terms_are_offered_else_a_promise_within_a_week():
    pool = Pool(terms=(70, None, 14))
    call, recorded, _ = run_payment(keys("2", VISA + "#", "1230", "123", "1"), pool,
                                    params={"account": "ACC-7", "campaign": "spring"})
    assert recorded[0][1].option is Option.SETTLEMENT
    assert recorded[0][1].amount == Money(25075 * 70 // 100)
    assert (7, "spring") in pool.asked
    assert call.language == "en"  # the account's, the dialplan naming none
    call, recorded, _ = run_payment(keys("2"), Pool(), params={"account": "ACC-7"})
    assert NO_CAMPAIGN.settlement_percent is None  # 2 offers nothing then
    assert sound(p.OPTION_SETTLE.sound) not in call.played
    assert sound(p.OPTION_PROMISE.sound) in call.played


def test_an_unknown_or_settled_account_hears_nothing_was_taken():
    for pool in (Pool(account=None),
                 Pool(account=(7, "ACC-7", "0.00", "USD", "es", "paid", "", "UTC"))):
        call, recorded, sent = run_payment(keys("1"), pool, params={"account": "ACC-7"})
        assert recorded == [] and sent == []
        assert call.played == [sound(p.NOT_TAKEN.sound)]
        assert call.given_back == [{"RECOBRO_PAYMENT": "not_taken"}] and call.mutes == []


def test_hanging_up_mid_capture_records_the_outcome_only():
    call, recorded, sent = run_payment([*keys("1", VISA[:8]), (1.0, None)], Pool(),
                                       params={"account": "ACC-7"})
    [(_, result)] = recorded
    assert result.outcome is Outcome.HUNG_UP and result.attempts == 0 and sent == []
    assert result.last4 is None and call.hung_up == []
    assert [e.muted for e in call.noted if isinstance(e, RecordingMuted)] == [True]


def test_hanging_up_during_the_receipt_still_records_the_payment():
    # The debtor hangs up 4 s after confirming: while the receipt is said.
    call, recorded, _ = run_payment([*keys("1", VISA + "#", "1230", "123", "1"), (4.0, None)],
                                    Pool(), params={"account": "ACC-7"})
    [(_, result)] = recorded
    assert call.events.ended.done()
    assert result.outcome is Outcome.PAID and result.reference == "ch_123"
    assert (result.amount, result.last4, result.attempts) == (Money(25075), "4242", 1)


def test_without_a_recording_the_refusal_is_noted_and_the_capture_goes_on():
    call, recorded, _ = run_payment(keys("1", VISA + "#", "1230", "123", "1"), Pool(),
                                    recorded=False, params={"account": "ACC-7"})
    assert recorded[0][1].outcome is Outcome.PAID
    refusals = [e.refused for e in call.noted if isinstance(e, RecordingMuted)]
    assert len(refusals) == 2 and all("Cannot set mute flag" in r for r in refusals)


def test_card_digits_are_never_in_what_is_noted_or_recorded():
    call, recorded, _ = run_payment(keys("1", VISA + "#", "1230", "123", "1"), Pool(),
                                    params={"account": "ACC-7"})
    shown = repr(call.noted) + repr(recorded) + repr(call.played)
    assert VISA not in shown and "'1230'" not in shown and "'123'" not in shown

