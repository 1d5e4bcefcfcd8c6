"""`recobro sounds check`: ask Asterisk (ARI's sound index) whether every
sound Recobro's flows play exists in every language, and name the missing
ones. Run by `recobro lab up`; usable against a production Asterisk."""

from __future__ import annotations

from dialer.errors import AriError
from dialer.settings import AriSettings, load_settings
from dialer.telephony.ari import AriClient
from ivr.prompts import LANGUAGES
from ivr.sounds import FLOWS, MissingSound, missing


class MissingSounds(AriError):
    """Asterisk lacks sounds that Recobro's flows play."""


async def missing_sounds(settings: AriSettings) -> list[MissingSound]:
    """The sounds Recobro's flows play that Asterisk does not have."""
    ari = AriClient(settings, on_event=lambda event: None)
    await ari.connect(events=False)  # REST only: no Stasis application taken
    try:
        return missing(await ari.sounds())
    finally:
        await ari.close()


def require(absent: list[MissingSound]) -> None:
    """MissingSounds naming every absent sound, when there is one."""
    if absent:
        raise MissingSounds(
            f"Asterisk lacks {len(absent)} of the sounds Recobro plays: "
            + "; ".join(map(str, absent))
            + ". Recobro's own recordings go in <astdatadir>/sounds/<language>/recobro/"
              "NAME.wav (see docs/sounds.md)")


async def sounds_command() -> int:
    """Check every flow's sounds; exit 2 naming the missing ones."""
    require(await missing_sounds(load_settings().ari))
    count = len({sound for sounds in FLOWS.values() for sound in sounds})
    print(f"all {count} sounds of {len(FLOWS)} flows found in {', '.join(LANGUAGES)}")
    return 0
