"""Reading what the lab's Asterisk could not play from its log."""

from lab.asterisk_log import AsteriskLog, describe
from tests.unit.test_lab_files import lab_config

MISSING = ("[2026-12-02 13:05:09.790] WARNING[18839] file.c: File recobro/safe-harbour does "
           "not exist in any format\n")
FAILED = ("[2026-12-02 13:05:09.790] WARNING[18839] res_stasis_playback.c: probe-1: Playback "
          "failed for sound:recobro/no-such-sound\n")
OTHER = "[2026-12-02 13:05:09.791] WARNING[1] cdr_csv.c: Unable to open file\n"


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
    with path.open("a") as out:
        out.write(FAILED)
    assert log.unplayable() == {"recobro/safe-harbour": 1}
    assert log.unplayable(excused_from)["recobro/safe-harbour"] == 0
    assert describe(log.unplayable()) == "recobro/safe-harbour x1"


def test_no_log_yet_is_nothing_unplayable(tmp_path):
    assert AsteriskLog(lab_config(tmp_path)).unplayable() == {}


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
