"""How every Recobro process logs: one setup (the CLI's, which every
command and the lab's daemons go through) and a redaction filter on every
handler, so that no log record, whatever logger made it, carries a card
number: any run of 13 to 19 digits (spaces or dashes between them too) is
masked, all but its last four. Other long digit runs (a 13-digit epoch in
milliseconds, say) are masked too: a price worth paying."""

from __future__ import annotations

import logging
import re

# 13-19 digits, optionally grouped by single spaces or dashes, not inside
# a longer run of digits.
CARD_LIKE = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,18}(?![0-9])")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    """text with every card-like digit run masked to its last four."""
    def mask(match: re.Match[str]) -> str:
        digits = re.sub(r"[^0-9]", "", match.group())
        return "*" * (len(digits) - 4) + digits[-4:]
    return CARD_LIKE.sub(mask, text)


class RedactCardNumbers(logging.Filter):
    """Masks card-like digit runs in a record's message, arguments and
    exception text, before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_redaction(logger: logging.Logger | None = None) -> None:
    """Put the filter on every handler of logger (the root by default):
    handler filters see every record a handler emits, propagated ones too."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactCardNumbers) for f in handler.filters):
            handler.addFilter(RedactCardNumbers())


def configure(level: str) -> None:
    """The process's logging: level, Recobro's format, redaction."""
    logging.basicConfig(level=level, format=FORMAT)
    install_redaction()
