"""Every exit code of unitaudit, and the errors that map to them.

The CLI turns every exception that ends a command into one line on stderr plus
its exit status through `describe` (below): a `UnitauditError` says its own
line, click's command-line errors are usage errors, a fault of the state
database names the file and the remedy, anything else is an internal error
(traceback only with --debug).
"""
from enum import IntEnum
from typing import Optional, Tuple


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
    """A recipe file is unreadable, not TOML, breaks the recipe schema, or is not safely owned; or
    no directory of the search path holds any recipe (the message names each one searched).

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


class BundleError(UnitauditError):
    """A bundle or sos report that cannot be read safely: truncated, not a tar or a directory, a
    member escaping its extraction directory, a manifest whose hashes do not match, or a schema
    newer than this unitaudit reads.  Nothing of it is used."""

    status = ExitStatus.INCOMPLETE


class ProbeUnavailable(Exception):
    """The probe (sources/probe.py) cannot answer: a tool or database is missing, or the tool
    failed.  Never ends a command: a diagnosis or a plan says "unknown" instead."""


def describe(error: BaseException, state_dir: Optional[str] = None) -> "Tuple[str, ExitStatus]":
    """The one line (without the "unitaudit: error: " prefix) and the exit status for an exception
    that ended a command: the whole mapping, so the CLI holds none of its own.

    A UnitauditError says its own line.  A command-line error of click (the one typer carries, or
    typer's own copy of it) is a usage error, with a pointer to the command's --help.  A fault of
    the state database (sqlite3) names `state_dir`, the state directory in use
    (util.files.default_state_dir: this module imports nothing of the package), and the remedy.
    Anything else is an internal error: the traceback is for --debug."""
    if isinstance(error, UnitauditError):
        return str(error), error.status
    names = {c.__name__ for c in type(error).__mro__}
    if "ClickException" in names:  # click's own, or typer's vendored copy: not imported by name
        message = error.format_message()  # type: ignore[attr-defined]
        if "UsageError" not in names:
            return message, ExitStatus.INCOMPLETE
        ctx = getattr(error, "ctx", None)
        if ctx is not None and getattr(ctx, "command_path", None):
            message += " (see %s --help)" % ctx.command_path
        return message, ExitStatus.USAGE
    if "Abort" in names:  # click's: a prompt got end of file or ^C
        return "aborted", ExitStatus.INCOMPLETE
    if state_dir is not None and is_sqlite_error(error):
        return state_fault(state_dir, error), ExitStatus.INCOMPLETE
    if isinstance(error, RecursionError):
        return ("input nested too deeply to be read (a file or value with thousands of nested brackets?) "
                "(run with --debug for a traceback)"), ExitStatus.INCOMPLETE
    return ("internal error: %s: %s (run with --debug for a traceback)" % (type(error).__name__, error),
            ExitStatus.INCOMPLETE)


def is_sqlite_error(error: BaseException) -> bool:
    """An sqlite3.Error (any subclass), recognised by its class rather than imported: the
    module that words every error needs no database driver loaded."""
    return any(c.__module__ == "sqlite3" and c.__name__ == "Error" for c in type(error).__mro__)


def state_fault(directory: str, error: BaseException) -> str:
    """One line for a state database in `directory` that SQLite or the file system refuses, with
    what to do about it."""
    text = str(error) if is_sqlite_error(error) else (getattr(error, "strerror", None) or str(error))
    low = text.lower()
    where = "state database %s/state.db" % directory.rstrip("/")
    if "readonly" in low or "read-only" in low or "permission" in low or "not permitted" in low or \
            "unable to open" in low:
        return ("%s cannot be written: %s: run as root, or as the user that owns %s (a read-only file "
                "system or an immutable file: make it writable)" % (where, text, directory))
    if "locked" in low or "busy" in low:
        return "%s is locked by another process: %s: try again once it is done" % (where, text)
    if "disk is full" in low or "no space" in low:
        return "%s: %s: free some space in %s" % (where, text, directory)
    return ("%s is damaged or not unitaudit's: %s: move it aside (mv %s/state.db %s/state.db.bad); "
            "unitaudit starts a new one" % (where, text, directory.rstrip("/"), directory.rstrip("/")))
