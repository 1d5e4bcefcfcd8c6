"""The lab's own recordings: the safe-harbour message and the message left
on answering machines, in Spanish and English, spoken by espeak-ng and resampled by sox to 8 kHz for Asterisk,
written into the Asterisk root's sounds when missing or when the words
changed. The company name and callback number come from
RECOBRO_COMPANY_NAME and RECOBRO_CALLBACK_NUMBER (else the lab's caller ID)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

from dialer.errors import LabError
from dialer.lab.config import CALLER_ID, LabConfig
from ivr import (
    account_prompt,
    callback_prompts,
    machine_message,
    safe_harbour,
    self_service,
)
from ivr.prompts import LANGUAGES

VOICES = {"en": "en-us", "es": "es"}


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise LabError(f"{command[0]} failed: {result.stderr.strip()[:300]}")


def _words(company: str, callback: str) -> list[tuple[str, str, str]]:
    """(sound, language, words) of every recording the lab speaks."""
    out = []
    for language in LANGUAGES:
        out += [(safe_harbour.SOUND, language, safe_harbour.message(language, company, callback)),
                (machine_message.SOUND, language,
                 machine_message.message(language, company, callback)),
                (account_prompt.SOUND, language,
                 account_prompt.message(language, company, callback))]
        out += [(sound, language, callback_prompts.message(sound, language, company))
                for sound in callback_prompts.SOUNDS]
        out += [(sound, language, self_service.message(sound, language))
                for sound in self_service.SOUNDS]
    return out


def render_recordings(cfg: LabConfig) -> list[Path]:
    """Write sounds/recobro/<language>/<name>.wav in the Asterisk root for
    every recording Recobro plays, and the music on hold."""
    company = os.environ.get("RECOBRO_COMPANY_NAME", "Recobro Lab")
    callback = os.environ.get("RECOBRO_CALLBACK_NUMBER", CALLER_ID)
    written = []
    for sound, language, words in _words(company, callback):
        # sounds/<language>/ are symlinks inside the root; Asterisk also
        # finds <dir>/<language>/<file> for a sound named <dir>/<file>.
        directory, name = sound.split("/")
        target = (cfg.asterisk_root / "usr/share/asterisk/sounds" / directory / language
                  / f"{name}.wav")
        stamp = target.with_suffix(".words")
        digest = hashlib.sha256(words.encode()).hexdigest()
        if target.is_file() and stamp.is_file() and stamp.read_text() == digest:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory() as work:
            spoken = Path(work) / "spoken.wav"
            _run(["espeak-ng", "-v", VOICES[language], "-s", "150", "-w", str(spoken), words])
            _run(["sox", str(spoken), "-r", "8000", "-c", "1", "-b", "16", str(target)])
        stamp.write_text(digest)
        written.append(target)
    music = cfg.asterisk_run_dir / "moh" / "recobro-hold.wav"
    if not music.is_file():
        music.parent.mkdir(parents=True, exist_ok=True)
        # A slow rising and falling tone: something to hear, nothing to mistake.
        _run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(music), "synth", "20",
              "sine", "330-495", "tremolo", "0.5", "60", "vol", "0.3"])
        written.append(music)
    return written
