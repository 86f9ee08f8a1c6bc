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
import sys

import typer

# in the order `--help` lists their commands: each registers its commands on `app` when imported
from unitaudit.cli import scan_command
from unitaudit.cli import fix_commands
from unitaudit.cli import more_commands
from unitaudit.cli import bundles
from unitaudit.cli.common import _error, app
from unitaudit.errors import ExitStatus, describe

__all__ = ["app", "main"]
COMMAND_MODULES = (scan_command, fix_commands, more_commands, bundles)


def main() -> None:
    """The entry point.  click's own errors (an unknown option, a missing or bad value) are one line
    too, worded and given their status by errors.describe, not typer's boxed panel."""
    command = typer.main.get_command(app)
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
