"""The artefact search of the PCI proof (tests/e2e/artefacts.py) finds
card data in the forms it may take, and not a look-alike."""

from tests.e2e.artefacts import PROMETHEUS_VALUES, KeyedCard, leaks, without_thread_ids

CARD = KeyedCard("4242424242424242", "1230", "123")


def test_each_form_of_the_card_data_is_found_and_named_without_it():
    places = {"app.log": "charging 4242 4242 4242 4242", "dump": "exp 12/30 ok",
              "ws": '{"cvc": "123"}', "log/cdr-csv/Master.csv": "keyed 1230123",
              "log/messages.log": "DTMF end '4' received on PJSIP/trunk",
              "form": "card[exp_month]=12", "iso": "expires 2030-12",
              "log/cel-custom/Master.csv": '"DTMF","2026-12-02 23:27:26","Received",'
                                           '"{""digit"":""3""}"'}
    found = leaks(places, [CARD])
    assert set(found) == {"card ending 4242's number in app.log",
                          "card ending 4242's expiry in dump",
                          "card ending 4242's CVV in ws",
                          "card ending 4242's CVV in log/cdr-csv/Master.csv",
                          "a DTMF line in log/messages.log",
                          "a DTMF line in log/cel-custom/Master.csv",
                          "a card form's expiry field in form",
                          "card ending 4242's expiry in iso"}
    assert not any("4242424242424242" in f for f in found)


def test_look_alikes_are_not_leaks():
    places = {"dump": "call 9f1c-1230-4a2b 2026-12-30 12:30 balance 123.00 last4 4242",
              "log/messages.log": "loaded res_rtp: DTMF mode rfc4733"}
    assert leaks(places, [CARD]) == []


def test_an_asterisk_thread_id_is_not_an_expiry_but_the_line_is_still_searched():
    log = ("[2026-12-05 08:35:18.901] WARNING[1230] res_stasis_playback.c: x: Playback failed\n"
           "[2026-12-05 08:35:19.002] WARNING[1231][C-00000002] app.c: keyed 12/30\n")
    assert leaks({"log/messages.log": without_thread_ids(log)}, [CARD]) == \
        ["card ending 4242's expiry in log/messages.log"]
    assert leaks({"log/messages.log": without_thread_ids(log.splitlines()[0])}, [CARD]) == []


def test_prometheus_values_are_searched_for_card_numbers_only():
    """A sample's value is a number: a count of 1230 or a fraction ending
    in it reads like an expiry (a run's did), while a card number there is
    still found."""
    counts = '[{"metric": {"__name__": "x"}, "value": [1764882000.5, "0.1230"]}]'
    assert leaks({PROMETHEUS_VALUES: counts}, [CARD]) == []
    number = f'[{{"metric": {{}}, "value": [1, "{CARD.number}"]}}]'
    assert leaks({PROMETHEUS_VALUES: number}, [CARD]) == [
        f"card ending {CARD.number[-4:]}'s number in {PROMETHEUS_VALUES}"]
