"""The `recobro` command."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import NoReturn

from dialer import logs
from dialer.agents.state import PERSON_ACTIONS
from dialer.agents.supervision import SupervisionMode
from dialer.errors import ConfigError, RecobroError
from dialer.limits import DEFAULT_LINES, LINES
from dialer.settings import ENV_FILE_VARIABLE, environment, secrets_of
from dialer.store.database import REFUSALS, refusal_in_words
from ivr.prompts import LANGUAGES

# `recobro supervise --stop`: beside the modes, one of which the command takes.
STOP = "stop"


def _lab(args: argparse.Namespace) -> int:
    from lab import lab
    from lab.config import load_lab_config

    if args.to is not None and args.action != "render":
        raise ConfigError(f"lab {args.action}: --to goes with `lab render` only")
    if args.asterisks != 1 and args.action != "up":
        raise ConfigError(f"lab {args.action}: --asterisks goes with `lab up` only")
    if args.action == "record":
        from lab.record_traffic import record_command

        return record_command(args.scenarios, args.out)
    if args.scenarios:
        raise ConfigError(f"lab {args.action}: scenarios go with `lab record` only")
    cfg = load_lab_config()
    if args.action == "render":
        from lab.asterisk import render_configs

        print(f"asterisk configs: {render_configs(cfg, args.to)}")
        return 0
    parts = {"up": lab.up, "down": lab.down, "status": lab.status}[args.action](cfg)
    if args.asterisks == 2:
        lab.up_second_asterisk(cfg)
        parts = lab.status(cfg)
    for part in parts:
        state = f"running  pid {part.pid}" if part.pid else "stopped"
        print(f"{part.name:<20} {state:<18} {part.where}")
    if args.action == "up":
        print(f"settings: {cfg.env_file}")
    return 0


def _db(args: argparse.Namespace) -> int:
    from dialer.settings import load_database_url
    from dialer.store.migrate import apply_migrations

    applied = apply_migrations(load_database_url())
    print(f"migrations applied: {applied}" if applied else "database is up to date")
    return 0


def _call(args: argparse.Namespace) -> int:
    from dialer.call_command import call_command

    return asyncio.run(call_command(args.number, args.language))


def _sounds(args: argparse.Namespace) -> int:
    from dialer.sounds_check import sounds_command

    return asyncio.run(sounds_command())


def _demo(args: argparse.Namespace) -> int:
    from lab.demo import demo_command

    return asyncio.run(demo_command(args.accounts, args.seconds))


def _whole_number(low: int, high: int, what: str = "") -> Callable[[str], int]:
    """argparse type: a whole number (of what) from low to high."""
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(
                f"{text!r}: a whole number{' of ' + what if what else ''} from {low} to {high}")
        return int(text)

    return parse


_outbox_size = _whole_number(1, 1_000_000, "messages")
_sender_count = _whole_number(1, 8, "senders")
_positive_int = _whole_number(1, 200)
_step_size = _whole_number(1, int(LINES.high))  # a bench step: at most a campaign's lines
_dialer_count = _whole_number(1, 4, "dialers")
_talk_seconds = _whole_number(2, 60, "seconds")  # what a lab number's PP can say


def _share(text: str) -> float:
    """argparse type: a share above 0, at most 1."""
    try:
        share = float(text)
    except ValueError:
        share = 0.0
    if not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a share above 0, at most 1 (e.g. 0.3)")
    return share


def _bench_minutes(text: str) -> float:
    """argparse type: minutes from 4 to 120."""
    try:
        minutes = float(text)
    except ValueError:
        minutes = 0.0
    if not 4 <= minutes <= 120:
        raise argparse.ArgumentTypeError(f"{text!r}: minutes from 4 to 120")
    return minutes


def _bench(args: argparse.Namespace) -> int:
    if args.what == "bridge":
        from dialer.settings import load_settings
        from lab.bench_bridge import bench_bridge
        from lab.config import load_lab_config

        return bench_bridge(load_settings(), load_lab_config(), args.out, args.runs)
    if args.what == "hopper":
        from dialer.settings import load_settings
        from lab.bench_hopper import bench_hopper

        return bench_hopper(load_settings().database_url, args.out)
    if args.what == "payments":
        from dialer.settings import load_settings
        from lab.bench_payments import bench_payments
        from lab.config import load_lab_config

        return bench_payments(load_settings(), load_lab_config(), args.out, args.card,
                              tuple(args.steps) if args.steps else None, args.runs)
    if args.what == "messages":
        from dialer.settings import load_database_url
        from lab.bench_messages import MESSAGES, bench_messages
        from lab.config import load_lab_config

        return bench_messages(load_lab_config(), load_database_url(), args.out, args.runs,
                              args.messages or MESSAGES, tuple(args.senders or (1,)))
    if args.what == "load":
        from dialer.settings import load_settings
        from lab.bench_load import bench_load
        from lab.config import load_lab_config

        return bench_load(load_settings(), load_lab_config(), args.out, args.steps,
                          tuple(args.dialers), args.talk, args.answer_share, args.profile)
    if args.what == "soak":
        from dialer.settings import load_settings
        from lab.bench_soak import bench_soak
        from lab.config import load_lab_config

        return bench_soak(load_settings(), load_lab_config(), args.out, args.minutes or 60.0,
                          args.steps[0] if args.steps else 200)
    if args.what == "pacing-live":
        if args.minutes and args.minutes > 55:
            # The bench renews the lab's agents' registrations (an hour) once, as it starts.
            raise ConfigError(f"--minutes {args.minutes:g}: pacing-live runs 55 minutes at most")
        from dialer.settings import load_settings
        from lab.bench_pacing_live import DEFAULT_SCENARIO, bench_pacing_live
        from lab.config import load_lab_config

        return bench_pacing_live(load_settings(), load_lab_config(),
                                 args.scenarios or DEFAULT_SCENARIO, args.minutes or 20.0,
                                 args.out)
    from lab.bench import DEFAULT_MATRIX, bench_pacing

    if args.what == "pacing-restart":
        from lab.bench_restart import bench_restart

        return bench_restart(args.scenarios or DEFAULT_MATRIX, args.out)
    if args.what == "pacing-languages":
        from lab.bench_languages import DEFAULT_SCENARIOS, bench_languages

        return bench_languages(args.scenarios or DEFAULT_SCENARIOS, args.out, args.runs)
    return bench_pacing(args.scenarios or DEFAULT_MATRIX, args.out)


def _campaign(args: argparse.Namespace) -> int:
    from dialer.outbound import commands

    if args.action == "create":
        from dialer.compliance.abandon import CAP
        from dialer.settings import load_settings

        campaign = commands.build_campaign(
            args.name, args.mode, ratio=args.ratio, abandon_target=args.abandon_target,
            caller_id=args.caller_id or load_settings().caller_id, window=args.window, ring_timeout_s=args.ring_timeout,
            wrap_up_s=args.wrap_up, early_max_dpd=args.early_max_dpd,
            mid_max_dpd=args.mid_max_dpd, segments=args.segments, strategies=args.strategies,
            portfolio=args.portfolio, amd=args.amd, machine_action=args.machine_action,
            allow_above_cap=args.allow_abandon_above_cap,
            payment={"settlement_percent": args.settlement_percent,
                     "instalments": args.instalments, "promise_days": args.promise_days},
            answered_to=args.answered_to, lines=args.lines)
        if campaign.abandon_target > CAP:
            # Allowed by the operator's own flag: said where it is done.
            print(f"recobro: warning: campaign {campaign.name}: --abandon-target "
                  f"{campaign.abandon_target:g} ({campaign.abandon_target:.1%}) is above the "
                  f"{CAP:.0%} abandon cap regulators set; allowed by --allow-abandon-above-cap",
                  file=sys.stderr, flush=True)
        return asyncio.run(commands.create_campaign(campaign))
    if args.action == "run":
        return asyncio.run(commands.run_campaign(args.name, args.seconds, args.until_idle))
    if args.action == "status":
        return asyncio.run(commands.campaign_status(args.name))
    return asyncio.run(commands.steer_campaign(args.name, args.action))


def _accounts(args: argparse.Namespace) -> int:
    from dialer.portfolio import commands

    if args.action == "import":
        if args.file is None:
            raise ConfigError("accounts import: give the FILE to import")
        return asyncio.run(commands.import_accounts(
            args.file, args.mapping, args.format, args.region, args.currency, args.language,
            args.strict))
    if args.action == "quarantine":
        return asyncio.run(commands.show_quarantine(args.batch))
    if args.reference is None or args.status is None:
        raise ConfigError("accounts status: give --reference and --status")
    return asyncio.run(commands.set_account_status(args.reference, args.status))


def _dnc(args: argparse.Namespace) -> int:
    from dialer.portfolio import commands

    if (args.number is None) == (args.account is None):
        raise ConfigError("dnc add: give --number or --account (one of them)")
    return asyncio.run(commands.add_do_not_call(args.number, args.account, args.reason,
                                                args.region))


def _agent(args: argparse.Namespace) -> int:
    from dialer.agents import commands

    if args.asterisk is not None and args.action != "server":
        raise ConfigError(f"agent {args.action}: --asterisk goes with `agent server` only")
    if args.action == "session":
        if args.endpoint is None:
            raise ConfigError("agent session: give the agent's ENDPOINT")
        return asyncio.run(commands.open_session(args.endpoint))
    if args.action == "transfer":
        if args.endpoint is None:
            raise ConfigError("agent transfer: give the call's id (the screen pop's attempt "
                              "or inbound_call)")
        if sum((args.to_agent is not None, args.to_skill is not None,
                args.to_service is not None, args.complete)) != 1:
            raise ConfigError("agent transfer: give --to-agent, --to-skill, --to-service or "
                              "--complete (one of them)")
        return asyncio.run(commands.transfer(args.endpoint, args.to_agent, args.to_skill,
                                             args.to_service, args.complete))
    return asyncio.run(commands.agent_command(args.action, args.endpoint, args.reason,
                                              args.skills, args.asterisk))


def _supervise(args: argparse.Namespace) -> int:
    from dialer.agents import commands

    if args.mode == STOP:
        return asyncio.run(commands.stop_supervising(args.call, args.supervisor))
    return asyncio.run(commands.supervise(args.call, args.mode, args.supervisor))


def _api(args: argparse.Namespace) -> int:
    from dialer.api.server import serve
    from dialer.settings import load_settings

    asyncio.run(serve(load_settings()))
    return 0


def _token(args: argparse.Namespace) -> int:
    from dialer.access import commands

    if args.action == "issue":
        if args.role is None:
            raise ConfigError("token issue: give --role admin, supervisor or agent")
        return asyncio.run(commands.issue_token(args.role, args.agent, args.expires_in,
                                                args.label))
    if args.action == "list":
        return asyncio.run(commands.list_tokens())
    if args.id is None:
        raise ConfigError("token revoke: give the token's ID (see `recobro token list`)")
    return asyncio.run(commands.revoke_token(args.id))


def _inbound(args: argparse.Namespace) -> int:
    from dialer.inbound.service import serve
    from dialer.settings import configured_payment_gateway, load_settings

    asyncio.run(serve(load_settings(), args.wrap_up, args.region,
                      configured_payment_gateway()))
    return 0


def _agi(args: argparse.Namespace) -> int:
    from dialer.agi.server import serve
    from dialer.settings import load_agi_settings

    asyncio.run(serve(load_agi_settings(), args.region))
    return 0


def _payments(args: argparse.Namespace) -> int:
    from dialer.payments.commands import run_instalments_command

    return asyncio.run(run_instalments_command(args.today))


def _iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _disposition(args: argparse.Namespace) -> int:
    from dialer.agents import commands

    return asyncio.run(commands.dispose(args.attempt, args.code, args.agent, args.note))


def _report(args: argparse.Namespace) -> int:
    from dialer.reports.cells import Filters
    from dialer.reports.commands import dimensions_of, report_command

    try:
        filters = Filters(args.campaign, args.date_from, args.date_to, args.currency)
        dimensions = dimensions_of(args.of, args.by)
    except ValueError as error:
        raise ConfigError(f"report: {error}") from None
    return asyncio.run(report_command(args.of, filters, dimensions, args.format, args.chart))


def _currency(text: str) -> str:
    from dialer.reports.commands import currency_code

    try:
        return currency_code(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _add_report_command(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser(
        "report", help="strategy reports: of calls (right-party contact, promise and "
                       "kept-promise rates, amount collected, attempts per contact, per "
                       "segment x local hour x weekday x dial mode) or of messages (per "
                       "channel and template version), with counts and 95%% intervals "
                       "(docs/reports.md)")
    report.add_argument("--of", choices=["calls", "messages"], default="calls")
    report.add_argument("--campaign", help="one campaign (default: all)")
    report.add_argument("--from", dest="date_from", type=_iso_date, metavar="YYYY-MM-DD",
                        help="first day, in the debtor's local time (inclusive)")
    report.add_argument("--to", dest="date_to", type=_iso_date, metavar="YYYY-MM-DD",
                        help="last day, in the debtor's local time (inclusive)")
    report.add_argument("--currency", type=_currency,
                        help="the accounts' currency to report (needed when they have several)")
    report.add_argument("--by", metavar="DIMENSIONS",
                        help="the cells' dimensions, comma-separated: segment, hour, weekday, "
                             "and mode (calls) or channel, template (messages), the default; "
                             "and portfolio (the accounts' client_segment)")
    report.add_argument("--format", choices=["table", "csv", "json"], default="table")
    report.add_argument("--chart", type=Path, metavar="FILE.png",
                        help="also write the contact rate by local hour per segment as a PNG "
                             "(needs the `report` extra: matplotlib)")
    report.set_defaults(run=_report)


def _template(args: argparse.Namespace) -> int:
    from dialer.messages import commands

    if args.action == "list":
        return asyncio.run(commands.list_templates(args.campaign))
    missing = [f"--{name}" for name in ("campaign", "trigger", "channel")
               if getattr(args, name) is None]
    if args.action == "preview":
        missing += [] if args.account else ["--account"]
    elif args.language is None:
        missing.append("--language")
    if missing:
        raise ConfigError(f"template {args.action}: give {', '.join(missing)}")
    if args.action == "preview":
        return asyncio.run(commands.preview_template(args.campaign, args.account, args.trigger,
                                                     args.channel, args.language))
    key = commands.template_key(args.campaign, args.segment, args.trigger, args.channel,
                                args.language)
    if args.action == "show":
        return asyncio.run(commands.show_template(key, args.version, args.all))
    return asyncio.run(commands.set_template(key, commands.read_body(args.text, args.file),
                                             args.subject, args.author))


def _messages(args: argparse.Namespace) -> int:
    from dialer.messages import operations

    if args.action == "run":
        from dialer.messages import service

        tally = asyncio.run(service.run(once=args.once, listen=not args.no_listen))
        print(f"recobro messages: {tally}", flush=True)
        return 0
    if args.action in ("on", "off", "settings") and args.campaign is None:
        raise ConfigError(f"messages {args.action}: give --campaign")
    if args.action in ("on", "off") and (args.trigger is None or args.channel is None):
        raise ConfigError(f"messages {args.action}: give --trigger and --channel")
    if args.action == "on":
        setting = operations.trigger_setting(args.trigger, args.channel, args.within,
                                             args.days_before)
        return asyncio.run(operations.switch_on(args.campaign, setting))
    if args.action == "off":
        return asyncio.run(operations.switch_off(args.campaign, args.trigger, args.channel))
    if args.action == "settings":
        return asyncio.run(operations.show_settings(args.campaign))
    if args.action == "dead":
        return asyncio.run(operations.show_dead_letters())
    if args.action == "replay":
        if args.message is None:
            raise ConfigError("messages replay: give --message ID (`recobro messages dead`)")
        return asyncio.run(operations.replay_dead_letter(args.message))
    if args.account is None:
        raise ConfigError("messages history: give --account REFERENCE")
    return asyncio.run(operations.show_history(args.account))


def _add_messages_command(sub: argparse._SubParsersAction) -> None:
    from dialer.messages.model import Channel
    from dialer.messages.triggers import CAMPAIGN_TRIGGERS

    messages = sub.add_parser("messages", help="messages to debtors: the sender, a "
                                               "campaign's switched on or off, dead letters, "
                                               "an account's history")
    messages.add_argument("action", choices=["run", "on", "off", "settings", "dead", "replay",
                                             "history"])
    messages.add_argument("--once", action="store_true",
                          help="run: send what is due, then stop (for a timer)")
    messages.add_argument("--no-listen", action="store_true",
                          help="run: no callback listener (another sender has it)")
    messages.add_argument("--campaign")
    messages.add_argument("--trigger", choices=[t.value for t in CAMPAIGN_TRIGGERS])
    messages.add_argument("--channel", choices=[c.value for c in Channel])
    messages.add_argument("--within", type=int, metavar="SECONDS",
                          help="on, no_interaction: only a debtor who hung up within this "
                               "many seconds of answering (default: whenever)")
    messages.add_argument("--days-before", type=int, metavar="N",
                          help="on, pre_due: N days (1-30) before the account's due date, on "
                               "the debtor's date (default 3)")
    messages.add_argument("--message", type=int, help="replay: the dead letter's id")
    messages.add_argument("--account", help="history: the account's reference")
    messages.set_defaults(run=_messages)


def _add_template_command(sub: argparse._SubParsersAction) -> None:
    from dialer.messages.model import Channel, Trigger

    template = sub.add_parser("template", help="message templates: set a new version, show, "
                                               "preview for an account, list")
    template.add_argument("action", choices=["set", "show", "preview", "list"])
    template.add_argument("--campaign")
    template.add_argument("--segment", choices=["any", "early", "mid", "late"], default="any",
                          help="set/show: the segment (default: any without its own)")
    template.add_argument("--trigger", choices=[t.value for t in Trigger])
    template.add_argument("--channel", choices=[c.value for c in Channel])
    template.add_argument("--language", choices=LANGUAGES,
                          help="preview: default the account's")
    template.add_argument("--text", help="set: the body")
    template.add_argument("--file", type=Path, help="set: a UTF-8 file holding the body")
    template.add_argument("--subject", help="set: an e-mail's subject")
    template.add_argument("--author", default="", help="set: who wrote this version")
    template.add_argument("--version", type=int, help="show: this version")
    template.add_argument("--all", action="store_true", help="show: every version")
    template.add_argument("--account", help="preview: the account's reference")
    template.set_defaults(run=_template)


def _add_operations_commands(sub: argparse._SubParsersAction) -> None:
    from dialer.outbound.defaults import CAMPAIGN_DEFAULTS as defaults

    campaign = sub.add_parser("campaign", help="create, run and steer campaigns")
    campaign.add_argument("action", choices=["create", "start", "pause", "resume", "stop",
                                             "run", "status"])
    campaign.add_argument("name")
    campaign.add_argument("--mode", choices=["preview", "progressive", "ratio", "predictive"],
                          default=defaults["mode"])
    campaign.add_argument("--ratio", type=float, default=defaults["ratio"],
                          help="calls per agent (ratio mode), 1 to 10")
    campaign.add_argument("--abandon-target", type=float, default=defaults["abandon_target"],
                          help="predictive mode's abandon rate, a share: at most 0.03 (the "
                               "regulators' 3%% cap) unless --allow-abandon-above-cap")
    campaign.add_argument("--allow-abandon-above-cap", action="store_true",
                          help="accept an --abandon-target above the 3%% cap (outside the "
                               "FCC's and Ofcom's rules: on the operator's responsibility)")
    campaign.add_argument("--caller-id", help="default: RECOBRO_CALLER_ID")
    campaign.add_argument("--window", default=defaults["window"],
                          help="us, es, mx, local (by the number's country) or HH:MM-HH:MM "
                               "(24:00 for the day's end)")
    campaign.add_argument("--ring-timeout", type=int, default=defaults["ring_timeout"],
                          help="seconds, 5 to 120")
    campaign.add_argument("--wrap-up", type=int, default=defaults["wrap_up"],
                          help="agent wrap-up seconds, 0 to 3600")
    campaign.add_argument("--early-max-dpd", type=int, default=defaults["early_max_dpd"])
    campaign.add_argument("--mid-max-dpd", type=int, default=defaults["mid_max_dpd"])
    campaign.add_argument("--segments", default=defaults["segments"])
    campaign.add_argument("--amd", action="store_true",
                          help="answering-machine detection on every answered call")
    campaign.add_argument("--machine-action", choices=["hang_up", "leave_message"],
                          default=defaults["machine_action"],
                          help="what to do when AMD hears a machine")
    campaign.add_argument("--portfolio", default=defaults["portfolio"],
                          help="only accounts whose client_segment is this (default: all)")
    campaign.add_argument("--strategies", type=Path, help="TOML file of per-segment strategies")
    # Payment by keypad, for every segment (a strategies file may set each
    # segment's own); default: docs/campaigns.md#payment-terms.
    campaign.add_argument("--settlement-percent", metavar="N|none",
                          help="offer settling for N%% of the balance paid today (1-99)")
    campaign.add_argument("--instalments", metavar="N|none",
                          help="offer a plan of N monthly payments (2-24)")
    campaign.add_argument("--promise-days", metavar="N|none",
                          help="offer a promise to pay within N days (0-180)")
    campaign.add_argument("--answered-to", choices=["agent", "self_service"],
                          default=defaults["answered_to"],
                          help="where answered live calls go: agent (default), or "
                               "self_service: an agentless press-to-pay campaign (the "
                               "debtor keys the account number, then the self-service menu)")
    campaign.add_argument("--lines", type=int, default=None,
                          help=f"self_service: calls in flight at most, 1 to {LINES.high:g} "
                               f"(default {DEFAULT_LINES}); it has no agents to pace to")
    campaign.add_argument("--for", dest="seconds", type=float, default=None,
                          help="run: stop dialing after this many seconds")
    campaign.add_argument("--until-idle", action="store_true",
                          help="run: stop once nothing is left to dial now and no call is "
                               "up (leads due later, after a retry delay or when their "
                               "calling window opens, do not count)")
    campaign.set_defaults(run=_campaign)

    accounts = sub.add_parser("accounts", help="import accounts, see the quarantine, "
                                               "change an account's status")
    accounts.add_argument("action", choices=["import", "quarantine", "status"])
    accounts.add_argument("file", nargs="?", type=Path)
    accounts.add_argument("--mapping", type=Path, help="JSON or TOML: field = column")
    accounts.add_argument("--format", choices=["auto", "csv", "jsonl"], default="auto")
    accounts.add_argument("--region", default="US",
                          help="country of numbers written without a country code")
    accounts.add_argument("--currency", default="USD")
    accounts.add_argument("--language", choices=LANGUAGES, default="es")
    accounts.add_argument("--strict", action="store_true",
                          help="import nothing when any row is bad")
    accounts.add_argument("--batch", type=int, help="quarantine: one import batch")
    accounts.add_argument("--reference", help="status: the account")
    accounts.add_argument("--status", choices=["active", "paid", "settled", "disputed", "closed"])
    accounts.set_defaults(run=_accounts)

    dnc = sub.add_parser("dnc", help="do-not-call and opt-out entries")
    dnc.add_argument("action", choices=["add"])
    dnc.add_argument("--number")
    dnc.add_argument("--account", help="an account reference (the whole account)")
    dnc.add_argument("--reason", choices=["dnc", "opt_out"], default="dnc")
    dnc.add_argument("--region", default="US")
    dnc.set_defaults(run=_dnc)

    agent = sub.add_parser("agent", help="agents: log in or out, open a session (the "
                                          "phone called once for the shift), pause, ready, "
                                          "skills, list, transfer a call (warm)")
    agent.add_argument("action", choices=[*PERSON_ACTIONS, "session", "skills", "server",
                                          "list", "transfer"])
    agent.add_argument("endpoint", nargs="?",
                       help="the agent's endpoint (transfer: the call's id)")
    agent.add_argument("--reason", default="", help="pause: break, lunch, training, meeting, "
                                                    "coaching or technical")
    agent.add_argument("--skills", help="skills: e.g. language:es=5,language:en=2,negotiation=4")
    agent.add_argument("--asterisk", help="server: the Asterisk server (its "
                                          "RECOBRO_ASTERISK_NAME) the agent's softphone "
                                          "registers to, or 'any'")
    agent.add_argument("--to-agent", help="transfer: the agent (endpoint) brought into the call")
    agent.add_argument("--to-skill", help="transfer: a skill the agent brought in must have "
                                          "(and the debtor's language)")
    agent.add_argument("--to-service", choices=["self_service", "inbound_queue"],
                       help="transfer, cold: the agent leaves and the debtor goes to the "
                            "self-service menu, or to the inbound queue (`recobro "
                            "inbound`'s waiting line)")
    agent.add_argument("--complete", action="store_true",
                       help="transfer: leave the call to the transfer's target")
    agent.set_defaults(run=_agent)

    supervise = sub.add_parser("supervise", help="a supervisor's phone listens to a live "
                                                 "call, whispers to its agent or barges in, "
                                                 "or stops (through `recobro api`)")
    supervise.add_argument("call", help="the call's id (an attempt or an inbound call)")
    modes = supervise.add_mutually_exclusive_group(required=True)
    for mode in SupervisionMode:
        modes.add_argument(f"--{mode.value}", dest="mode", action="store_const",
                           const=mode.value)
    modes.add_argument(f"--{STOP}", dest="mode", action="store_const", const=STOP,
                       help="end the supervisor's supervision of the call (its phone is "
                            "hung up, the call goes on)")
    supervise.add_argument("--supervisor", required=True,
                           help="the PJSIP endpoint of the supervisor's phone")
    supervise.set_defaults(run=_supervise)

    api = sub.add_parser("api", help="the HTTP API and agents' event WebSocket "
                                     "(RECOBRO_API_HOST:RECOBRO_API_PORT)")
    api.set_defaults(run=_api)

    token = sub.add_parser("token", help="the API's bearer tokens: issue (the secret shown "
                                         "once), list, revoke")
    token.add_argument("action", choices=["issue", "list", "revoke"])
    token.add_argument("id", nargs="?", type=int, help="revoke: the token's id")
    token.add_argument("--role", choices=["admin", "supervisor", "agent"])
    token.add_argument("--agent", help="an agent token's agent (e.g. agent1001)")
    token.add_argument("--expires-in", metavar="N{m,h,d}",
                       help="e.g. 12h or 30d (default: no expiry)")
    token.add_argument("--label", default="", help="who or what holds it")
    token.set_defaults(run=_token)

    inbound = sub.add_parser("inbound", help="take debtors' calls from the trunk: identify "
                                             "them and route them to skilled agents")
    inbound.add_argument("--wrap-up", type=float, default=5.0, help="agent wrap-up seconds")
    inbound.add_argument("--region", default="US",
                         help="country of callers' numbers without a country code")
    inbound.set_defaults(run=_inbound)

    agi = sub.add_parser("agi", help="FastAGI hooks for your own dialplan: look a caller up, "
                                     "ask the compliance gate, record an opt-out "
                                     "(RECOBRO_AGI_HOST:RECOBRO_AGI_PORT)")
    agi.add_argument("--region", default="US",
                     help="country of numbers without a country code")
    agi.set_defaults(run=_agi)

    payments = sub.add_parser("payments", help="payments away from calls: charge the plans' "
                                               "instalments due (one pass, for a timer)")
    payments.add_argument("action", choices=["run-instalments"])
    payments.add_argument("--today", type=_iso_date, metavar="YYYY-MM-DD",
                          help="take this as every debtor's date (default: each debtor's "
                               "own date now, in the account's time zone)")
    payments.set_defaults(run=_payments)

    disposition = sub.add_parser("disposition", help="an agent's disposition of a call")
    disposition.add_argument("attempt", help="the attempt (call) id")
    disposition.add_argument("code", help="PTP, PAID, RPC, REFUSED, DISPUTE, OPT_OUT, "
                                          "WRONG_NUMBER, CALLBACK")
    disposition.add_argument("--agent", required=True)
    disposition.add_argument("--note", default="")
    disposition.set_defaults(run=_disposition)
    _add_template_command(sub)
    _add_messages_command(sub)
    _add_report_command(sub)


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other error (no
    usage block: `--help` has it)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="recobro", description=__doc__)
    parser.add_argument("--env-file", type=Path, help="read settings from this file "
                        "(as RECOBRO_ENV_FILE; real environment variables still win)")
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="the lab: Asterisk, PostgreSQL and sipp on loopback")
    lab.add_argument("action", choices=["up", "down", "status", "render", "record"],
                     help="render: write the lab's Asterisk configs and start nothing; "
                          "record: the AMI and ARI traffic of the replay tests' calls, "
                          "from the running lab, as their fixtures")
    lab.add_argument("scenarios", nargs="*", help="with record: which (default: all)")
    lab.add_argument("--to", type=Path, metavar="DIR",
                     help="render: into DIR (default: the lab's Asterisk run directory)")
    lab.add_argument("--asterisks", type=int, choices=[1, 2], default=1,
                     help="up: 2 starts a second Asterisk server with two agents of its "
                          "own (a campaign spread over two servers: docs/lab.md)")
    lab.add_argument("--out", type=Path, default=Path("tests/replay/fixtures"),
                     help="with record: where the fixtures go")
    lab.set_defaults(run=_lab)

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["migrate"])
    db.set_defaults(run=_db)

    call = sub.add_parser("call", help="place one outbound call and print its outcome")
    call.add_argument("number")
    call.add_argument("--language", choices=LANGUAGES, default=None)
    call.set_defaults(run=_call)

    sounds = sub.add_parser("sounds", help="check that Asterisk has every sound Recobro "
                                            "plays, in every language")
    sounds.add_argument("action", choices=["check"])
    sounds.set_defaults(run=_sounds)

    demo = sub.add_parser("demo", help="a live demo campaign through the lab")
    demo.add_argument("--accounts", type=int, default=300)
    demo.add_argument("--seconds", type=float, default=45.0, help="how long to dial")
    demo.set_defaults(run=_demo)
    bench = sub.add_parser("bench", help="benchmarks")
    bench.add_argument("what", choices=["pacing", "pacing-restart", "pacing-languages",
                                        "pacing-live", "hopper", "bridge", "payments",
                                        "messages", "load", "soak"],
                       help="pacing: policies in the simulator; pacing-restart: what a "
                            "dialer restart mid-shift costs (cold and warm) in the "
                            "simulator; pacing-languages: Spanish and English debtors "
                            "paced by language pool, language-blind, and without "
                            "languages, in the simulator; pacing-live: a predictive campaign "
                            "through the lab (RECOBRO_LAB_AGENTS agents) and the simulator, "
                            "side by side; messages: texts handed to the lab's Kannel per "
                            "second; hopper: import and claims "
                            "on PostgreSQL (the lab's); bridge: answer to agent bridge "
                            "against the lab's Asterisk, per-call ringing and agent "
                            "sessions; payments: simultaneous card "
                            "captures and last key to result, against the lab; load: calls "
                            "one dialer process (or several) keeps up, step by step, against "
                            "the lab; soak: one dialer at steady load for an hour, its memory, "
                            "files, PostgreSQL connections and Asterisk channels each minute")
    bench.add_argument("scenarios", nargs="?", type=Path,
                       help="scenario file (TOML or JSON); default: the built-in matrix")
    bench.add_argument("--out", type=Path, default=Path("bench-results"))
    bench.add_argument("--card", type=Path,
                       help="payments: the approved test card the debtors key (TOML, a "
                            "[bench] table: number, expiry MMYY, cvv); default "
                            "tests/fixtures/demo_cards.toml")
    bench.add_argument("--steps", type=_step_size, nargs="+",
                       help="payments: simultaneous captures of each step (default 1 4 8 16 "
                            "32); load: each step's lines, calls at once (default 100 200 300 "
                            "400 480); soak: the campaign's lines (default 200)")
    bench.add_argument("--dialers", type=_dialer_count, nargs="+", default=[1],
                       help="load: dialer processes, a ramp each (default 1; e.g. 1 2)")
    bench.add_argument("--talk", type=_talk_seconds, default=8,
                       help="load: seconds an answering debtor stays (default 8)")
    bench.add_argument("--answer-share", type=_share, default=1.0,
                       help="load: share of calls answered; the others ring until given up "
                            "after the talk time (default 1)")
    bench.add_argument("--profile", action="store_true",
                       help="load: run the first dialer under cProfile (slower: its figures "
                            "are the profiled run's) and add its top functions to load.md")
    bench.add_argument("--runs", type=_positive_int, default=1,
                       help="payments: runs of every step; messages, bridge: runs (medians over "
                            "them); "
                            "pacing-languages: seeds (up to 3)")
    bench.add_argument("--minutes", type=_bench_minutes,
                       help="pacing-live: minutes the campaign dials in the lab (default 20, at "
                            "most 55); soak: minutes at steady load (default 60)")
    bench.add_argument("--messages", type=_outbox_size,
                       help="messages: the outbox's size (default 100000)")
    bench.add_argument("--senders", type=_sender_count, nargs="+",
                       help="messages: sender processes sharing the outbox, one run each "
                            "(default 1; e.g. 1 2)")
    bench.set_defaults(run=_bench)
    _add_operations_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; errors become one line and exit 2."""
    args = build_parser().parse_args(argv)
    if args.env_file is not None:
        os.environ[ENV_FILE_VARIABLE] = str(args.env_file)
    # Warnings (a prompt Asterisk could not play, an agent paused for a
    # missed call) reach stderr; RECOBRO_LOG_LEVEL=INFO tells more.
    level = os.environ.get("RECOBRO_LOG_LEVEL", "WARNING").upper()
    if level not in logging.getLevelNamesMapping():
        print(f"recobro: error: RECOBRO_LOG_LEVEL={level!r}: use DEBUG, INFO, WARNING or ERROR",
              file=sys.stderr)
        return 2
    log_file = os.environ.get("RECOBRO_LOG_FILE")
    try:
        logs.configure(level, Path(log_file) if log_file else None)  # every handler masks cards
    except OSError as error:
        print(f"recobro: error: RECOBRO_LOG_FILE={log_file!r}: cannot open it to append "
              f"({error.strerror or error}); does its directory exist and may Recobro write it?",
              file=sys.stderr)
        return 2
    # Its reconnect attempts come with a traceback each while PostgreSQL is
    # away; Recobro says so in one line itself.
    logging.getLogger("asyncpg.pool").setLevel(logging.ERROR)
    try:
        return args.run(args)
    except RecobroError as error:
        return _fail(str(error))
    except REFUSALS as error:
        # A value PostgreSQL refused that no check caught first: in words,
        # never its raw constraint text or the row's values.
        return _fail(refusal_in_words(error))
    except KeyboardInterrupt:
        return 130


def _fail(message: str) -> int:
    """Print one error line, with every secret of the settings masked (a
    driver's message may quote a part of a URL), and return exit code 2."""
    try:
        secrets = secrets_of(environment())
    except RecobroError:
        secrets = secrets_of(os.environ)
    line = " ".join(message.split())  # one line, whatever the message held
    for secret in secrets:
        line = line.replace(secret, "***")
    print(f"recobro: error: {line}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
