"""What `recobro campaign create` and POST /campaigns give a campaign for a
setting left out. Pure."""

from __future__ import annotations

from dialer.compliance.abandon import CAP
from dialer.portfolio.model import AnsweredTo, DialMode, MachineAction

# Keyed by the CLI's option names (the API's body fields); the OpenAPI
# document's defaults are held equal by a test.
CAMPAIGN_DEFAULTS: dict[str, object] = {
    "mode": DialMode.PREDICTIVE.value, "ratio": 2.0, "abandon_target": CAP,
    "window": "local", "ring_timeout": 25, "wrap_up": 5, "early_max_dpd": 30,
    "mid_max_dpd": 90, "segments": "early,mid,late", "portfolio": "",
    "machine_action": MachineAction.HANG_UP.value, "answered_to": AnsweredTo.AGENT.value,
}
