"""The files Asterisk plays for a sound, as 8 kHz WAV references for
tests.audio.match: Recobro's own recordings as the lab wrote them, and
Asterisk's own sounds (GSM in Debian's packages) converted by sox."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lab.config import LabConfig
from lab.prompts import SOUNDS_DIR, in_root


def reference(cfg: LabConfig, sound: str, language: str, work: Path) -> Path:
    """A WAV of what Asterisk plays for sound in language."""
    directory = in_root(cfg.asterisk_root, SOUNDS_DIR / language)
    wav = directory / f"{sound}.wav"
    if wav.is_file():
        return wav
    gsm = directory / f"{sound}.gsm"
    if not gsm.is_file():
        raise FileNotFoundError(f"no {sound} in {language} under {directory}")
    converted = work / f"{sound.replace('/', '_')}-{language}.wav"
    if not converted.is_file():
        work.mkdir(parents=True, exist_ok=True)
        subprocess.run(["sox", str(gsm), "-r", "8000", "-c", "1", "-b", "16", str(converted)],
                       check=True, capture_output=True, stdin=subprocess.DEVNULL)
    return converted
