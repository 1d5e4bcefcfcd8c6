"""The `recobro` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from dialer.errors import RecobroError


def _lab(args: argparse.Namespace) -> int:
    from dialer.lab import lab
    from dialer.lab.config import load_lab_config

    cfg = load_lab_config()
    parts = {"up": lab.up, "down": lab.down, "status": lab.status}[args.action](cfg)
    for part in parts:
        state = f"running  pid {part.pid}" if part.pid else "stopped"
        print(f"{part.name:<20} {state:<18} {part.where}")
    if args.action == "up":
        print(f"settings: {cfg.env_file}")
    return 0


def _db(args: argparse.Namespace) -> int:
    from dialer.settings import environment
    from dialer.store.migrate import apply_migrations

    applied = apply_migrations(environment().get("DATABASE_URL", ""))
    print(f"migrations applied: {applied}" if applied else "database is up to date")
    return 0


def _call(args: argparse.Namespace) -> int:
    from dialer.commands import call_command

    return asyncio.run(call_command(args.number, args.language))


def _demo(args: argparse.Namespace) -> int:
    from dialer.demo import demo_command

    return asyncio.run(demo_command(args.calls, args.concurrency))


def _bench(args: argparse.Namespace) -> int:
    from dialer.bench import DEFAULT_MATRIX, bench_pacing

    return bench_pacing(args.scenarios or DEFAULT_MATRIX, args.out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="recobro", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    lab = sub.add_parser("lab", help="the lab: Asterisk, PostgreSQL and sipp on loopback")
    lab.add_argument("action", choices=["up", "down", "status"])
    lab.set_defaults(run=_lab)

    db = sub.add_parser("db", help="database schema")
    db.add_argument("action", choices=["migrate"])
    db.set_defaults(run=_db)

    call = sub.add_parser("call", help="place one outbound call and print its outcome")
    call.add_argument("number")
    call.add_argument("--language", choices=["es", "en"], default=None)
    call.set_defaults(run=_call)

    demo = sub.add_parser("demo", help="a demo campaign through the lab")
    demo.add_argument("--calls", type=int, default=36)
    demo.add_argument("--concurrency", type=int, default=8)
    demo.set_defaults(run=_demo)
    bench = sub.add_parser("bench", help="benchmarks")
    bench.add_argument("what", choices=["pacing"])
    bench.add_argument("scenarios", nargs="?", type=Path,
                       help="scenario file (TOML or JSON); default: the built-in matrix")
    bench.add_argument("--out", type=Path, default=Path("bench-results"))
    bench.set_defaults(run=_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; errors become one line and exit 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except RecobroError as error:
        print(f"recobro: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
