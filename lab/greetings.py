"""What the lab's simulated debtors say when they answer, for Asterisk's
answering-machine detection to judge: a person's short "¿Bueno?" and then
silence, or an answering machine's long greeting. Spoken by espeak-ng,
turned into 8 kHz u-law by sox and into an RTP pcap for sipp."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

from dialer.errors import LabError
from lab.number_plan import Behaviour
from lab.pcap import rtp_pcap

# (voice, words, seconds of silence after them)
GREETINGS = {
    Behaviour.HUMAN_GREETING: ("es", "¿Bueno?", 3.0),
    Behaviour.MACHINE_GREETING: (
        "en-us", ("Hi, you have reached Ana and Luis. We cannot take your call right now. "
                 "Please leave your name, your number and a short message after the tone, "
                 "and we will call you back as soon as we can. Thank you."), 1.0),
}


def greeting_file(directory: Path, behaviour: Behaviour) -> Path:
    """Where the pcap of a greeting lives."""
    return directory / f"greeting-{behaviour.name.lower().replace('_', '-')}.pcap"


def _run(command: list[str]) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise LabError(f"{command[0]} failed: {result.stderr.strip()[:300]}")


def render_greetings(directory: Path) -> None:
    """Write every greeting's pcap into directory, unless it is there."""
    directory.mkdir(parents=True, exist_ok=True)
    for behaviour, (voice, words, silence_s) in GREETINGS.items():
        target = greeting_file(directory, behaviour)
        if target.is_file():
            continue
        with tempfile.TemporaryDirectory() as work:
            spoken, ulaw = Path(work) / "spoken.wav", Path(work) / "greeting.ul"
            _run(["espeak-ng", "-v", voice, "-s", "160", "-w", str(spoken), words])
            _run(["sox", str(spoken), "-r", "8000", "-c", "1", "-t", "ul", str(ulaw),
                  "pad", "0.3", str(silence_s)])
            target.write_bytes(rtp_pcap(ulaw.read_bytes()))
