"""The lab's own recordings: every prompt Recobro plays that Asterisk does
not ship (ivr.sounds.RECORDINGS), in Spanish and English, spoken by
espeak-ng and resampled by sox to 8 kHz, written where Asterisk looks for
them (sounds/<language>/recobro/NAME.wav) when missing or when the words
changed. The company name and callback number come from
RECOBRO_COMPANY_NAME and RECOBRO_CALLBACK_NUMBER (else the lab's caller ID)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from dialer.errors import LabError
from ivr.prompts import LANGUAGES
from ivr.recordings import DIRECTORY
from ivr.sounds import RECORDINGS
from lab.config import CALLER_ID, LabConfig

VOICES = {"en": "en-us", "es": "es"}
SOUNDS_DIR = Path("usr/share/asterisk/sounds")  # Asterisk's, inside its root
COMPANY = "Recobro Lab"


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise LabError(f"{command[0]} failed: {result.stderr.strip()[:300]}")


def callback_number() -> str:
    """The number the lab's recordings give to call back."""
    return os.environ.get("RECOBRO_CALLBACK_NUMBER", CALLER_ID)


def in_root(root: Path, path: Path) -> Path:
    """path inside the chroot root, as the host sees it: symbolic links
    (Debian's sounds/<language> are absolute links through
    /etc/alternatives) are followed within the root, not on the host."""
    resolved = root
    parts = list(path.parts)
    for _ in range(64):  # links followed at most; a loop is an error
        if not parts:
            return resolved
        part = parts.pop(0)
        candidate = resolved / part
        if candidate.is_symlink():
            target = Path(os.readlink(candidate))
            parts = list(target.parts[1:] if target.is_absolute() else target.parts) + parts
            resolved = root if target.is_absolute() else resolved
        else:
            resolved = candidate
    raise LabError(f"{path} in {root}: too many symbolic links")


def recording_path(cfg: LabConfig, sound: str, language: str) -> Path:
    """Where the lab writes a recording: sounds/<language>/<sound>.wav."""
    return in_root(cfg.asterisk_root, SOUNDS_DIR / language) / f"{sound}.wav"


def render_recordings(cfg: LabConfig) -> list[Path]:
    """Write every recording Recobro plays in each language, and the music
    on hold; returns what was (re)written."""
    company = os.environ.get("RECOBRO_COMPANY_NAME", COMPANY)
    callback = callback_number()
    # Labs before 2026-12 wrote sounds/recobro/<language>/, where Asterisk
    # never looks (and takes "recobro" for a language).
    shutil.rmtree(cfg.asterisk_root / SOUNDS_DIR / DIRECTORY, ignore_errors=True)
    written = []
    for recording in RECORDINGS:
        for language in LANGUAGES:
            words = recording.text(language, company, callback)
            target = recording_path(cfg, recording.sound, language)
            stamp = target.with_suffix(".words")
            digest = hashlib.sha256(words.encode()).hexdigest()
            if target.is_file() and stamp.is_file() and stamp.read_text() == digest:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory() as work:
                spoken = Path(work) / "spoken.wav"
                _run(["espeak-ng", "-v", VOICES[language], "-s", "150", "-w", str(spoken),
                      words])
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
