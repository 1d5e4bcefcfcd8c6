"""The catalogue of sounds Recobro's flows play, and where the lab writes
its own recordings."""

import os

from ivr import safe_harbour
from ivr.prompts import LANGUAGES
from ivr.recordings import digits_media, spoken_number
from ivr.sounds import FLOWS, RECORDINGS, MissingSound, missing
from lab.prompts import in_root


def test_every_recording_has_words_in_both_languages_and_a_flow():
    played = {sound for sounds in FLOWS.values() for sound in sounds}
    for recording in RECORDINGS:
        assert recording.sound.startswith("recobro/") and recording.sound in played
        for language in LANGUAGES:
            text = recording.text(language, "Acme", "+1 555 010 0000")
            assert text and "{" not in text, (recording.sound, language)
    assert len({r.sound for r in RECORDINGS}) == len(RECORDINGS)


def test_the_safe_harbour_message_names_company_number_and_opt_out_key():
    text = safe_harbour.MESSAGE.text("en", "Acme", "+15550100000")
    assert "Acme" in text and spoken_number("+15550100000") in text
    assert f"press {safe_harbour.OPT_OUT_KEY}" in text
    assert digits_media("+1 (555) 010-0000") == "digits:15550100000"


def test_missing_names_each_absent_sound_with_its_languages_and_flows():
    everything = {sound: set(LANGUAGES) for sounds in FLOWS.values() for sound in sounds}
    assert missing(everything) == []
    everything[safe_harbour.SOUND] = {"en"}
    del everything["digits/7"]
    absent = {m.sound: m for m in missing(everything)}
    assert absent[safe_harbour.SOUND] == MissingSound(
        safe_harbour.SOUND, ("es",), ("no agent within 2 s (safe harbour)",))
    assert absent["digits/7"].languages == LANGUAGES
    assert "self-service" in absent["digits/7"].flows
    assert str(absent[safe_harbour.SOUND]) == \
        "recobro/safe-harbour in es (no agent within 2 s (safe harbour))"


def test_in_root_follows_absolute_links_inside_the_root(tmp_path):
    # Debian: sounds/es -> /etc/alternatives/asterisk-prompt-es -> .../es_MX_f_Allison
    sounds = tmp_path / "usr/share/asterisk/sounds"
    (sounds / "es_MX_f_Allison").mkdir(parents=True)
    (tmp_path / "etc/alternatives").mkdir(parents=True)
    os.symlink("/usr/share/asterisk/sounds/es_MX_f_Allison",
               tmp_path / "etc/alternatives/asterisk-prompt-es")
    os.symlink("/etc/alternatives/asterisk-prompt-es", sounds / "es")
    os.symlink("es_MX_f_Allison", sounds / "es_MX")  # a relative link too
    target = sounds / "es_MX_f_Allison"
    assert in_root(tmp_path, sounds.relative_to(tmp_path) / "es") == target
    assert in_root(tmp_path, sounds.relative_to(tmp_path) / "es_MX" / "recobro") == \
        target / "recobro"
