"""Errors a user can act on.

A ``UserError`` carries one line for the user; the CLI prints it as ``error: <message>`` and exits
with status 2, the GUI shows it in a message box. Anything else is a bug (or an engine failing mid-run): the
CLI reports it in one ``error:`` line with status 1 (its traceback with REWEAVE_TRACEBACK=1), the GUI in a
message box with the traceback as details.
"""


class UserError(Exception):
    """Bad input or an impossible request, explained in one line."""


class Cancelled(Exception):
    """A run was stopped by the user."""
