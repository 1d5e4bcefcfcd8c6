"""Runs localstripe's own aiohttp application on loopback, in memory.

Started by lab/stripe_mock.py with the Python of localstripe's own
virtual environment, isolated (`python -I`): it imports localstripe and
aiohttp from there and nothing of Recobro's. Two things differ from
localstripe's `localstripe --port` command, neither its Stripe behaviour:
it listens on the given host only (the command binds every interface),
and it keeps its objects in memory (the command pickles them, test card
numbers included, to /tmp/localstripe.pickle, one file shared by every
lab on the machine)."""

import argparse

from aiohttp import web
from localstripe import resources, server


def main() -> None:
    """Serve localstripe on --host:--port until SIGTERM."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    resources.Store.dump_to_disk = lambda self: None
    web.run_app(server.app, host=args.host, port=args.port, access_log=None,
                print=None, handle_signals=True)


if __name__ == "__main__":
    main()
