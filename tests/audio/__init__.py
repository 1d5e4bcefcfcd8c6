"""Audio verification for tests: capture the lab's UDP with tcpdump, rebuild
SIP dialogs, and prove what the far end of a call received (prompts by
envelope match, keys by RFC 4733 and by in-band DTMF).

    with capture_lab(cfg, tmp_path / "call.pcap") as cap:
        place_the_call()
    call = received(cap.path, cfg.sip_port, cfg.pstn_port).by_number(number)
    assert match(call.audio, "hello-world.wav").found()
"""

from tests.audio.analysis import (
    Audio,
    Heard,
    HeardCalls,
    Match,
    activity,
    dtmf_tones,
    match,
    read_wav,
    received,
    sent,
    telephone_events,
)
from tests.audio.capture import Capture, CaptureError, capture_lab
from tests.audio.pcap import Datagram, read_pcap
from tests.audio.sip import Dialog, dialogs

__all__ = [
    "Audio", "Capture", "CaptureError", "Datagram", "Dialog", "Heard", "HeardCalls", "Match",
    "activity", "capture_lab", "dialogs", "dtmf_tones", "match", "read_pcap", "read_wav",
    "received", "sent", "telephone_events",
]
