"""The lab's SMTP server: aiosmtpd on loopback, keeping every message it
receives in a Maildir (one file each, under .lab/smtp/maildir/new), which
the tests read as what the debtor's mailbox received.

Started by lab/smtp.py with Recobro's own Python; stopped by its PID file."""

import argparse
import asyncio
import signal

from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox


async def _serve(host: str, port: int, maildir: str) -> None:
    controller = Controller(Mailbox(maildir), hostname=host, port=port)
    controller.start()
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopped.set)
    try:
        await stopped.wait()
    finally:
        controller.stop()


def main() -> None:
    """Serve SMTP on --host:--port into --maildir until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    args = parser.parse_args()
    asyncio.run(_serve(args.host, args.port, args.maildir))


if __name__ == "__main__":
    main()
