"""Every metric Recobro exports, in one place: names with the `recobro_`
prefix, base units, `_total` counters, and bounded labels only (campaign,
outcome, rule, stage, state, link, window, verdict, answered_to, option, currency,
channel): never an account, a number or a
call id, and never anything of a card."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    platform_collector,
    process_collector,
)

# One registry per process, holding Recobro's metrics and the runtime's own
# (CPU seconds, resident memory, open files, GC), nothing else.
REGISTRY = CollectorRegistry(auto_describe=True)
process_collector.ProcessCollector(registry=REGISTRY)
platform_collector.PlatformCollector(registry=REGISTRY)
gc_collector.GCCollector(registry=REGISTRY)

# What each dialer process saw (summed across dialers by Prometheus).
CALLS = Counter("recobro_calls_total", "Calls placed by a dialer, by their final result.",
                ["campaign", "outcome"], registry=REGISTRY)
REFUSALS = Counter("recobro_compliance_refusals_total",
                   "Leads the compliance gate refused, by rule and by stage (claim: when "
                   "the hopper claimed it; dial: asked again just before dialing).",
                   ["campaign", "rule", "stage"], registry=REGISTRY)
CALLS_IN_FLIGHT = Gauge("recobro_calls_in_flight", "Calls a dialer is following now.",
                        ["campaign"], registry=REGISTRY)
PACED_CALLS = Gauge("recobro_pacing_calls_decided",
                    "Calls the pacing policy asked for at the dialer's last tick, over every "
                    "language pool.", ["campaign"], registry=REGISTRY)
AMD_VERDICTS = Counter("recobro_amd_verdicts_total",
                       "Answering-machine detection's verdicts on answered calls (machine, "
                       "human, notsure).", ["campaign", "verdict"], registry=REGISTRY)
ANSWER_TO_AGENT = Histogram("recobro_answer_to_agent_seconds",
                            "From a debtor's answer (or AMD's verdict) to the agent's bridge: "
                            "the FCC's 2-second rule.", ["campaign"],
                            buckets=(0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0),
                            registry=REGISTRY)
PAYMENT_CAPTURES = Counter("recobro_payment_captures_total",
                           "Card captures by how they ended (paid, plan_set_up, promised, "
                           "declined, gateway_down, abandoned, unplayable, hung_up) and the "
                           "option chosen (full, settlement, plan, promise, none).",
                           ["outcome", "option"], registry=REGISTRY)
PAID_AMOUNT = Counter("recobro_paid_amount_total",
                      "Money taken by card captures that ended paid or with a plan's first "
                      "payment, in the currency's major unit.", ["currency"], registry=REGISTRY)
PROMISED_AMOUNT = Counter("recobro_promised_amount_total",
                          "Money debtors promised to pay by a date, in the currency's major "
                          "unit.", ["currency"], registry=REGISTRY)
MESSAGES = Counter("recobro_messages_total",
                   "Messages the senders handled, by channel (sms, email) and outcome (sent, "
                   "deferred, refused, retry, dead, lost).", ["channel", "outcome"],
                   registry=REGISTRY)
LINK_UP = Gauge("recobro_link_up",
                "1 while a link the process keeps is up (ami, ari: Asterisk's; "
                "agent_events, agents_freed: PostgreSQL LISTENs), else 0.", ["link"], registry=REGISTRY)
LINK_RECONNECTS = Counter("recobro_link_reconnects_total",
                          "Times a link the process keeps was lost and opened again.",
                          ["link"], registry=REGISTRY)
LOOP_LAG = Histogram("recobro_event_loop_lag_seconds",
                     "How late the process's asyncio event loop ran a timer: a busy or "
                     "blocked loop answers Asterisk late.",
                     buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
                     registry=REGISTRY)
ASTERISK_EVENTS = Counter("recobro_asterisk_events_total",
                          "Events the process read from Asterisk, by link (ami, ari).",
                          ["link"], registry=REGISTRY)
EVENTS_WAITING = Gauge("recobro_asterisk_events_waiting",
                       "Events read from Asterisk that the process has not handled yet "
                       "(dialer.intake: at 5,000 it stops reading AMI and ARI).",
                       registry=REGISTRY)
INTAKE_PAUSES = Counter("recobro_asterisk_reading_pauses_total",
                        "Times the process stopped reading AMI and ARI because too many "
                        "events waited to be handled: it was not keeping up with Asterisk.",
                        registry=REGISTRY)
CALL_TO_FLOW = Histogram("recobro_call_to_flow_seconds",
                         "From Asterisk's moment an answered call entered the process's "
                         "application (ARI StasisStart) to the call's flow starting: the "
                         "silence the process itself adds before a debtor hears anything.",
                         buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                  1.0, 2.5, 5.0, 10.0),
                         registry=REGISTRY)

# Figures that span processes, from PostgreSQL, exported by the API alone.
ABANDON_RATE = Gauge("recobro_abandon_rate",
                     "Abandoned calls over live answers in the regulator's rolling window "
                     "(absent before the window's first live answer).",
                     ["campaign", "window"], registry=REGISTRY)
LIVE_ANSWERS = Gauge("recobro_live_answers", "Live answers in the regulator's rolling window.",
                     ["campaign", "window"], registry=REGISTRY)
ABANDONED = Gauge("recobro_abandoned_calls", "Abandoned calls in the regulator's rolling window.",
                  ["campaign", "window"], registry=REGISTRY)
ABANDON_TARGET = Gauge("recobro_abandon_rate_target",
                       "The abandon rate the campaign paces to (its cap, or lower).",
                       ["campaign"], registry=REGISTRY)
AGENTS = Gauge("recobro_agents", "Agents by state.", ["state"], registry=REGISTRY)
OCCUPANCY = Gauge("recobro_agent_occupancy",
                  "Agents' time on calls (reserved, talking, wrap-up) over their logged-in, "
                  "unpaused time, over the last window (15m, 1h).", ["window"],
                  registry=REGISTRY)
AGENT_WAIT = Gauge("recobro_agent_wait_seconds",
                   "Agents' ready time per call they took, over the last window (15m, 1h): "
                   "the wait between calls.", ["window"], registry=REGISTRY)
DIAL_LEVEL = Gauge("recobro_dial_level",
                   "A campaign's calls ringing (dialed, not yet answered) per agent logged in "
                   "and not paused.", ["campaign"], registry=REGISTRY)
CAMPAIGN_RUNNING = Gauge("recobro_campaign_running",
                         "1 while the campaign is running (0 paused or stopped); answered_to: "
                         "agent, or self_service (a press-to-pay campaign, no agents).",
                         ["campaign", "answered_to"], registry=REGISTRY)
LEADS = Gauge("recobro_leads",
              "A campaign's leads: callable now, waiting for a later time, being dialed, "
              "done for good.", ["campaign", "state"], registry=REGISTRY)


def window_label(length: timedelta) -> str:
    """A window as a label value: 15m, 1h, 24h, 30d."""
    seconds = int(length.total_seconds())
    if seconds < 3600:
        return f"{seconds // 60}m"
    hours = seconds // 3600
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"
