"""The fleet outputs of a run: the Prometheus textfile and the summary entry in the journal.

The reporters word them (report/prometheus.py, report/journal_summary.py); this module writes
them where the fleet reads them.  A failure of one is reported, never stops the other.
"""
import os
import time
from typing import Callable, Dict, List, Optional

from unitaudit import __version__
from unitaudit.errors import UnitauditError
from unitaudit.model import IncrementalRead, ReadFrom, RunSummary, ScanResult
from unitaudit.report import journal_summary as summary
from unitaudit.report import prometheus
from unitaudit.sources.journal import binding
from unitaudit.util.files import check_output_path, write_output

TEXTFILE = "the Prometheus textfile"


def run_summary(result: Optional[ScanResult], info: Optional[IncrementalRead], started: float, error: Optional[str],
                clock: Callable[[], float] = time.time, fix_failures=None) -> RunSummary:
    """What the fleet outputs say about the run itself.  `fix_failures`: RunSummary's (the hourly
    round looks them up; a scan does not)."""
    entries = info.entries if info is not None else None
    if entries is None and result is not None:
        entries = sum(dict(s.counts).get("entries", 0) for s in result.sources if s.kind == "journal")
    return RunSummary(started=started, seconds=round(clock() - started, 3), error=error, entries_read=entries,
                   read_from=info.read_from if info is not None else ReadFrom.FULL,
                      totals=info.totals if info is not None else (), version=__version__,
                      fix_failures=fix_failures)


def write_outputs(result: Optional[ScanResult], run: RunSummary, prometheus_path: Optional[str], journal_summary: bool,
                  extra_fields: Optional[dict] = None) -> List[str]:
    """Both fleet outputs; a failure of one is reported, never stops the other."""
    errors = []
    if prometheus_path:
        try:
            write_textfile(prometheus_path, prometheus.render(result, run))
        except UnitauditError as e:
            errors.append(str(e))
    if journal_summary:
        fields = summary.fields(result, run)
        fields.update(extra_fields or {})
        try:
            send_summary(fields)
        except UnitauditError as e:
            errors.append(str(e))
    return errors


def check_textfile_path(path: str) -> str:
    """`path` as write_textfile will take it, or the UsageError (exit 2) it would refuse it with:
    the scan command checks before it scans."""
    return check_output_path(path, TEXTFILE)


def write_textfile(path: str, text: str) -> None:
    """Replace `path` atomically, mode 0644, creating its directory (0755) when missing: the
    output write (util.files.write_output), whose temporary name does not end in
    `.prom` (node_exporter reads only *.prom, so it never scrapes a half-written file).  Only a
    regular file or a new name is written: a symlink, device, FIFO or directory at `path` is
    refused with a UsageError naming it (`--prometheus /dev/null` as root leaves /dev/null be)."""
    full = check_textfile_path(path)  # before any directory is made
    try:
        _makedirs(os.path.dirname(full))
        write_output(full, text.encode("utf-8", "replace"), TEXTFILE, 0o644)
    except OSError as e:
        raise UnitauditError("cannot write the Prometheus textfile %s: %s" % (path, e.strerror or e)) from e


def _makedirs(directory: str) -> None:
    missing = []
    while not os.path.isdir(directory):
        missing.append(directory)
        directory = os.path.dirname(directory)
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o755)
        except FileExistsError:
            continue  # made meanwhile (another run): not ours to chmod
        os.chmod(d, 0o755)  # mkdir's mode is cut by the umask


def send_summary(fields: Dict[str, str]) -> None:
    """Log the entry to the local journald (the native protocol, via systemd-python)."""
    try:
        binding.require("logging the run summary to the journal").send(**fields)
    except OSError as e:
        raise UnitauditError("cannot log the run summary to the journal: %s" % (e.strerror or e)) from e
