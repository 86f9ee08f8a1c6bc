"""Every exit code of unitaudit, and the errors that map to them.

The CLI catches `UnitauditError` and turns it into one line on stderr plus
its exit status; anything else is an internal error (traceback only with
--debug).
"""
from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0  # scanned, nothing found
    FINDINGS = 1  # scanned, found loops or failures
    USAGE = 2  # bad command line or bad option value
    INCOMPLETE = 3  # could not complete: a source missing, unreadable, no permission
    FIX_FAILED = 4  # a fix failed or was partly applied


class UnitauditError(Exception):
    status = ExitStatus.INCOMPLETE


class UsageError(UnitauditError):
    status = ExitStatus.USAGE


class SourceError(UnitauditError):
    """A source (journal, log file) could not be read at all."""

    status = ExitStatus.INCOMPLETE


class RecipeError(UnitauditError):
    """A recipe file is unreadable, not TOML, breaks the recipe schema, or is not safely owned.

    Exit 3, not 2: the command line was fine, the installation is broken (a packaged or admin
    recipe), and nothing may be planned from a half-read set of recipes."""

    status = ExitStatus.INCOMPLETE


class StateError(UnitauditError):
    """The state directory cannot be used safely, or a fix run cannot be recorded or undone as
    asked (an unknown run, a run already undone, a file that is not a regular file)."""

    status = ExitStatus.INCOMPLETE


class LockBusy(StateError):
    """Another `unitaudit fix` or `undo` holds the state lock: nothing was changed."""

    status = ExitStatus.INCOMPLETE


class ConfigError(UnitauditError):
    """The configuration file (/etc/unitaudit/unitaudit.toml or $UNITAUDIT_CONFIG) is unreadable, not
    TOML, names an unknown or bad setting, or is not safely owned.  Every message names the file and
    the key, so the admin knows which line to fix."""

    status = ExitStatus.USAGE
