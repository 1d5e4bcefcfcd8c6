"""Reading what the lab's Asterisk could not play from its log, told apart
from prompts cut short by a caller who hung up, on lines the lab's
Asterisk 22 wrote (tests/fixtures/asterisk_log: its messages.log and the
HANGUP channel events of the same calls, from a full test run and a
line of a later one)."""

import csv
import shutil
from pathlib import Path

from lab.asterisk_log import AsteriskLog, Cause, describe
from tests.unit.test_lab_files import lab_config

FIXTURES = Path(__file__).parent.parent / "fixtures" / "asterisk_log"
MISSING = ("[2026-12-02 13:05:09.790] WARNING[18839] file.c: File recobro/safe-harbour does "
           "not exist in any format\n")
FAILED = ("[2026-12-02 13:05:09.790] WARNING[18839] res_stasis_playback.c: probe-1: Playback "
          "failed for sound:recobro/no-such-sound\n")
OTHER = "[2026-12-02 13:05:09.791] WARNING[1] cdr_csv.c: Unable to open file\n"


def lab_log(tmp_path, channel_events: str | None = None) -> AsteriskLog:
    """An AsteriskLog of a lab whose log (from its start) is the fixture's,
    its channel events the fixture's unless given (None: the fixture's)."""
    cfg = lab_config(tmp_path)
    log_dir = cfg.asterisk_run_dir / "log"
    (log_dir / "cel-custom").mkdir(parents=True)
    log = AsteriskLog(cfg)
    shutil.copy(FIXTURES / "messages.log", log.path)
    events = (FIXTURES / "cel-custom.csv").read_text() if channel_events is None else channel_events
    log.channel_events.write_text(events)
    return log


def test_each_failure_form_of_a_real_run_gets_its_cause(tmp_path):
    failures = lab_log(tmp_path).failures()
    assert [(f.sound, f.cause, f.channel) for f in failures] == [
        # An inbound caller hung up in the menu (HANGUP the same second, its source
        # the caller's own channel).
        ("recobro/self-service-menu", Cause.CALLER_HUNG_UP, "1796316449.5"),
        # A debtor who hung up 2 s into the safe-harbour message.
        ("recobro/safe-harbour", Cause.CALLER_HUNG_UP, "452e35f7-6481-4c18-afc4-3a25d988bfef"),
        # `recobro call`'s greeting to numbers that stay a second on the line.
        ("hello-world", Cause.CALLER_HUNG_UP, "debd6d6f-8ca6-480c-a7cd-56b4746812d8"),
        ("hello-world", Cause.CALLER_HUNG_UP, "29ad185a-8a72-41a4-a67b-7dba6e2df691"),
        ("hello-world", Cause.CALLER_HUNG_UP, "b1f58aaf-d06b-4395-8b53-cd0d3faa85b7"),
        # The recording removed: "does not exist", "Unable to open" and
        # "Playback failed" in one thread are one failure (the debtor hung up
        # 10 s later, after the fallback).
        ("recobro/safe-harbour", Cause.MISSING, ""),
        # A press-to-pay debtor who hung up 2 s into the account prompt.
        ("recobro/enter-account", Cause.CALLER_HUNG_UP, "22c9da59-32e4-4a13-b7a2-95bf20b9908f"),
        # From a later run, the channel events in milliseconds (cel.conf): the
        # greeting failed at .228, the caller's channel hung up at .237.
        ("hello-world", Cause.CALLER_HUNG_UP, "ed378df7-a5d9-4ecd-8daa-c07b6d4e73ac"),
    ]
    assert [f.line for f in failures][5].endswith("does not exist in any format")
    log = lab_log(tmp_path / "again")
    assert [(f.sound, f.cause) for f in log.unplayable()] == [("recobro/safe-harbour",
                                                               Cause.MISSING)]
    assert describe(log.unplayable()) == (
        "recobro/safe-harbour x1 (the file does not exist in any format or language)")


def test_without_the_channels_hang_ups_no_failure_passes_for_a_hang_up(tmp_path):
    unplayable = lab_log(tmp_path, channel_events="").unplayable()
    assert len(unplayable) == 8
    assert {f.cause for f in unplayable} == {Cause.FAILED, Cause.MISSING}
    assert "hello-world x4 (the playback failed on a channel that did not hang up then)" in (
        describe(unplayable))


def test_a_hang_up_at_another_moment_or_by_us_does_not_excuse_a_failure(tmp_path):
    rows = list(csv.reader((FIXTURES / "cel-custom.csv").open(newline="")))
    greeting = next(r for r in rows if r[14] == "debd6d6f-8ca6-480c-a7cd-56b4746812d8")
    later = [*greeting[:1], "2026-12-03 17:19:04", *greeting[2:]]  # 10 s after
    # The same hang-up as Recobro's (ARI's DELETE leaves no source).
    ours = [*greeting[:14], "29ad185a-8a72-41a4-a67b-7dba6e2df691", *greeting[15:19],
            greeting[19].replace("PJSIP/recobro-trunk-00000039", "")]
    path = tmp_path / "events.csv"
    with path.open("w", newline="") as out:
        csv.writer(out, quoting=csv.QUOTE_ALL).writerows([later, ours])
    causes = {f.channel: f.cause for f in lab_log(tmp_path, path.read_text()).unplayable()}
    assert causes["debd6d6f-8ca6-480c-a7cd-56b4746812d8"] is Cause.FAILED
    assert causes["29ad185a-8a72-41a4-a67b-7dba6e2df691"] is Cause.CUT_BY_US


def test_only_what_was_logged_since_and_not_excused_counts(tmp_path):
    cfg = lab_config(tmp_path)
    path = cfg.asterisk_run_dir / "log" / "messages.log"
    path.parent.mkdir(parents=True)
    path.write_text(MISSING)  # before the log was opened: not ours
    log = AsteriskLog(cfg)
    with path.open("a") as out:
        out.write(OTHER + MISSING)
    excused_from = log.offset()
    with path.open("a") as out:
        out.write(FAILED + MISSING)
    log.excuse(excused_from, log.offset())
    assert [f.sound for f in log.unplayable()] == ["recobro/safe-harbour"]
    assert log.unplayable(excused_from) == []
    with path.open("a") as out:
        out.write(FAILED)  # no channel event: nothing shows a hang-up
    assert [f.sound for f in log.unplayable()] == ["recobro/safe-harbour",
                                                   "recobro/no-such-sound"]


def test_no_log_yet_is_nothing_unplayable(tmp_path):
    assert AsteriskLog(lab_config(tmp_path)).unplayable() == []


def test_errors_and_warnings_between_two_points_are_problems(tmp_path):
    cfg = lab_config(tmp_path)
    path = cfg.asterisk_run_dir / "log" / "messages.log"
    path.parent.mkdir(parents=True)
    error = "[2026-12-03 05:14:50.321] ERROR[1408] loader.c: app_queue declined to load.\n"
    path.write_text(error)  # before the log was opened: not ours
    log = AsteriskLog(cfg)
    stopped = ("[2026-12-03 05:16:20.260] NOTICE[2126][C-00000001] res_stasis_playback.c: "
               "1796274970.0: Playback stopped for sound:recobro/pay-option-promise\n")
    with path.open("a") as out:
        out.write(stopped + OTHER)
    middle = log.offset()
    with path.open("a") as out:
        out.write(error)
    assert log.problems() == [OTHER.rstrip("\n"), error.rstrip("\n")]
    assert log.problems(log.start, middle) == [OTHER.rstrip("\n")]
    assert log.problems(middle) == [error.rstrip("\n")]
