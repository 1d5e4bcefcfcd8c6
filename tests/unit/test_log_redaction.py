"""Every process's logging masks card numbers: any run of 13-19 digits
(grouped by spaces or dashes too), in the message, its arguments and a
traceback, whatever logger made the record."""

from __future__ import annotations

import argparse
import io
import logging

from dialer import cli, logs

PAN = "4000000000009995"


def handler_with_redaction() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger("test.redaction")
    logger.handlers[:] = [logging.StreamHandler(stream)]
    logger.propagate = False
    logs.install_redaction(logger)
    return logger, stream


def test_card_like_runs_are_masked_to_their_last_four():
    assert logs.redact(f"card {PAN} ok") == "card ************9995 ok"
    assert logs.redact("4242 4242 4242 4242") == "************4242"
    assert logs.redact("3782-822463-10005") == "***********0005"
    assert logs.redact("call 12345 at 2026-12-02, 123456789012") == \
        "call 12345 at 2026-12-02, 123456789012"  # short runs stay
    assert logs.redact("1" * 25) == "1" * 25  # not a card: longer than 19


def test_message_arguments_and_tracebacks_are_masked():
    logger, stream = handler_with_redaction()
    logger.warning("paying with %s", PAN)
    try:
        raise ValueError(f"bad card {PAN}")
    except ValueError:
        logger.exception("failed")
    text = stream.getvalue()
    assert PAN not in text and "************9995" in text and "ValueError" in text


def test_every_cli_process_installs_the_filter(monkeypatch):
    """Every command (the lab's daemons too: `python -m dialer.cli`) logs
    through handlers that redact."""
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    seen = []

    def run(args):
        seen.append([h for h in root.handlers
                     if any(isinstance(f, logs.RedactCardNumbers) for f in h.filters)])
        return 0

    parser = argparse.ArgumentParser()
    parser.add_argument("--env-file", default=None)
    parser.set_defaults(run=run)
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    assert cli.main([]) == 0
    assert seen and seen[0] == root.handlers != []
