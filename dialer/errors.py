"""Errors a user can act on. Each carries one line that says what to fix;
the CLI prints that line and exits non-zero, without a traceback."""


class RecobroError(Exception):
    """An error whose message names the setting, field or part to fix."""


class ConfigError(RecobroError):
    """A setting is missing or malformed."""


class CallControlError(RecobroError):
    """Asterisk did not do what was asked of a call (dialer.calls.control)."""


class ChannelGone(CallControlError):
    """The channel (or bridge, or playback) asked about is no more."""


class AmiError(CallControlError):
    """Asterisk's AMI is unreachable, refused the login or an action."""


class AmiUnanswered(AmiError):
    """An action was sent and Asterisk said nothing of it in time: it may
    have been carried out all the same (an Originate: the call placed).
    session: the AMI session it was sent in."""

    def __init__(self, message: str, session: int) -> None:
        super().__init__(message)
        self.session = session


class AriError(CallControlError):
    """Asterisk's ARI is unreachable, refused the credentials or a request."""


class DatabaseError(RecobroError):
    """PostgreSQL is unreachable or refused the connection."""


class LabError(RecobroError):
    """The lab could not be provisioned, started or stopped."""
