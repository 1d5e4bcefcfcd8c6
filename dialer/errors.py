"""Errors a user can act on. Each carries one line that says what to fix;
the CLI prints that line and exits non-zero, without a traceback."""


class RecobroError(Exception):
    """An error whose message names the setting, field or part to fix."""


class ConfigError(RecobroError):
    """A setting is missing or malformed."""


class AmiError(RecobroError):
    """Asterisk's AMI is unreachable or refused the login."""


class AriError(RecobroError):
    """Asterisk's ARI is unreachable or refused the credentials."""


class DatabaseError(RecobroError):
    """PostgreSQL is unreachable or refused the connection."""


class LabError(RecobroError):
    """The lab could not be provisioned, started or stopped."""
