"""User-facing errors: mistakes a user can fix, shown by the CLI as one message, never a traceback."""

from __future__ import annotations


class UserError(Exception):
    """Something the user can fix (bad input, a refused overwrite). ``exit_code`` is what the CLI returns."""

    exit_code = 1


class ConfigError(UserError, ValueError):
    """A bad preset, override or config value (a usage error: exit code 2)."""

    exit_code = 2
