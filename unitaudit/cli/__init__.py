"""The command line.  Thin: parse the options, build a request, call a service, hand the result
to a reporter (unitaudit/report), map it to an exit status (errors.py; a traceback only with
--debug).  The package's modules are imported inside the commands that need them, for start-up
time: `unitaudit --help` must not load the scan, rich or dbus-next.

    common         the app, the guard, the report writer, the configuration, the scan asked for
    scan_command   scan
    fix_commands   fix, undo
    more_commands  churn, watch, history, config check, recipes
    bundles        collect

The command modules register their commands on `app` when imported, in the order `--help` lists them.
"""
import os
import sys

import typer

# in the order `--help` lists their commands: each registers its commands on `app` when imported
from unitaudit.cli import scan_command
from unitaudit.cli import fix_commands
from unitaudit.cli import more_commands
from unitaudit.cli import bundles
from unitaudit.cli.common import _error, app
from unitaudit.errors import ExitStatus, describe

__all__ = ["app", "main", "COMPLETE_VAR"]
COMMAND_MODULES = (scan_command, fix_commands, more_commands, bundles)
# The shell completion scripts (tools/make_completion.py, from typer's own templates) run
# `unitaudit` with this set to complete_bash, complete_zsh or complete_fish at each TAB, and
# source_SHELL prints a script.
COMPLETE_VAR = "_UNITAUDIT_COMPLETE"


def main() -> None:
    """The entry point.  click's own errors (an unknown option, a missing or bad value) are one line
    too, worded and given their status by errors.describe, not typer's boxed panel."""
    command = typer.main.get_command(app)
    if os.environ.get(COMPLETE_VAR):
        # typer's completion classes: command.main answers the TAB from the click tree and exits,
        # before any command runs.  Registered here because the app has add_completion=False (no
        # --install-completion option): unregistered, click 8.1's own classes answer (typer 0.19),
        # whose instructions typer does not parse, or none at all (typer 0.29 vendors click without them).
        from typer import _completion_classes as completion  # a TAB only
        completion.completion_init()
        # zsh and fish show each option's help beside it, which typer reads as rich markup: that
        # loads rich (+0.15 s a TAB) and drops bracketed words ("[protected]"); the app's help is
        # plain text (--help shows it as written), so it is shown as written here too.
        completion._sanitize_help_text = lambda text: text
    try:
        code = command.main(prog_name="unitaudit", standalone_mode=False)
    except Exception as e:  # noqa: BLE001 - only click's errors get here: every command is guarded
        names = {c.__name__ for c in type(e).__mro__}
        if "ClickException" not in names and "Abort" not in names:
            raise
        if type(e).__name__ == "NoArgsIsHelpError":  # click 8.2+: the help, already printed by typer's rich
            if e.format_message().strip():  # type: ignore[attr-defined]
                e.show()  # type: ignore[attr-defined]
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        message, status = describe(e)
        _error(message)
        sys.exit(int(status))
    sys.exit(code if isinstance(code, int) else int(ExitStatus.OK))
