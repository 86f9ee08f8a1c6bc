"""What every command shares: the typer app, the guard that turns every failure into one line
and an exit status (errors.describe; a traceback only with --debug), the report writer, the
configuration, and the scan a command asks for (live, from evidence files, or from a bundle)."""
import contextlib
import functools
import inspect
import shutil
import sys
from typing import Callable, Optional

import typer

from unitaudit import __version__
from unitaudit.errors import ExitStatus, describe

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: typer's rich panels load rich and pygments, 0.07 s of start-up
    help="Find systemd restart loops, D-Bus activation loops and units that fail on every run, "
    "with their cause and rate.",
)
_MAX_RUN = (1 << 63) - 1  # SQLite's integers end there


def _error(message: object) -> None:
    """The one error line on stderr: fitted to a terminal, one line for a log or a pipe."""
    from unitaudit.report.safe_text import error_line  # start-up time: loaded only when there is an error
    typer.echo(error_line(message, shutil.get_terminal_size().columns if sys.stderr.isatty() else None), err=True)


def _exit(status: ExitStatus, error: Optional[str] = None) -> "typer.Exit":  # the error line first, if any
    if error is not None:
        _error(error)
    return typer.Exit(code=int(status))


def _fix_outcome(reporter, as_json: bool, outcome, done: bool) -> "typer.Exit":
    """What `fix` or `undo` did, reported; exit 0 when all of it was done, else 4."""
    _write(reporter, as_json, outcome)
    return _exit(ExitStatus.OK if done else ExitStatus.FIX_FAILED)


def _write(reporter, as_json: bool, *facts, **options) -> None:
    """Every command's report: the reporter's JSON document or its text, on stdout."""
    (reporter.write_json if as_json else reporter.write_text)(*facts, out=sys.stdout, **options)


def guarded(command: Callable) -> Callable:
    """Map every failure of a command to one line and an exit status; with --debug, the traceback.
    The command gets click's context as an extra first parameter (typer passes a parameter typed
    typer.Context), to read --debug from the root command's parameters."""

    @functools.wraps(command)
    def run(unitaudit_context: typer.Context, **kwargs):
        try:
            return command(**kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            raise _exit(ExitStatus.INCOMPLETE, "interrupted") from None
        except BrokenPipeError:
            sys.stderr.close()  # the reader went away (| head): nothing left to say
            raise _exit(ExitStatus.OK)
        except Exception as e:  # noqa: BLE001 - the last line of defence; errors.describe words it
            if unitaudit_context.find_root().params.get("debug"):
                raise
            from unitaudit.util.files import default_state_dir  # start-up time: loaded only when a command failed
            message, status = describe(e, state_dir=default_state_dir())
            raise _exit(status, message) from None

    own = inspect.signature(command)
    context = inspect.Parameter("unitaudit_context", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    run.__signature__ = own.replace(parameters=[context, *own.parameters.values()])  # type: ignore[attr-defined]
    return run


def _version(value: bool) -> None:
    if value:
        typer.echo("unitaudit %s" % __version__)
        raise typer.Exit()


@app.callback()
def main_options(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    pass  # guarded() reads --debug back from the root command's context




@functools.lru_cache(maxsize=1)
def _config():
    """The configuration file, read once per command (fix reads thresholds and protected units)."""
    from unitaudit.config import load_config  # start-up time (tomllib)
    return load_config()


def _live_parts(request):
    """The bus, the diagnosis and the kernel figures, for a live scan only (request.is_live)."""
    if not request.is_live:
        return None
    from unitaudit.services.live import live_parts  # dbus-next: an offline scan never loads it
    return live_parts(request.bus_address, request.root)


def _progress(for_people: bool):
    """The progress display's context (report/progress_display.py): its callback, or None for
    `--json` or when stderr is no terminal (rich is not even loaded then)."""
    if not (for_people and sys.stderr.isatty()):
        return contextlib.nullcontext()
    from unitaudit.report.progress_display import progress_display  # start-up time (rich)
    return progress_display(sys.stderr)


def _scan(request, for_people: bool = False):
    """The scan `request` asks for; `for_people`: a text report follows, so a long read shows its
    progress on a terminal."""
    with _progress(for_people) as progress:
        if request.bundle:
            from unitaudit.services.bundle import scan_bundle  # start-up time
            from unitaudit.services.scan import thresholds  # start-up time
            request.check_bundle()
            return scan_bundle(request.bundle, thresholds(request, _config().thresholds), progress)
        from unitaudit.services.scan import run_scan  # start-up time
        return run_scan(request, _config().thresholds, live=_live_parts(request), progress=progress)


