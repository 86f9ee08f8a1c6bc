"""What a live scan adds to the journal: unit states over D-Bus and the diagnosis of each cause;
and `churn --measure`, which watches a unit live.

Its own module so that an offline scan never imports dbus-next: the CLI imports this one only
for a live scan (scan.ScanRequest.is_live)."""
from dataclasses import replace
from typing import Callable, NamedTuple, Optional, Sequence

from unitaudit.analysis.diagnosis import diagnose_all
from unitaudit.errors import SourceError, UsageError
from unitaudit.model import CauseKind, Finding, LiveState
from unitaudit.sources import cgroup_watch
from unitaudit.sources.dbus import DBusSource
from unitaudit.sources.kernel import KernelSource
from unitaudit.sources.probe import SystemProbe
from unitaudit.util.names import is_unit_name


class LiveParts(NamedTuple):
    """What a live scan adds: keyword arguments of `scan.scan` (an incremental run takes them whole)."""

    live_source: DBusSource  # read() -> LiveState
    diagnose: Callable[[Sequence[Finding], Optional[LiveState]], Sequence[Finding]]
    kernel: KernelSource  # churn measured live


def live_parts(bus_address: Optional[str], root: str = "/") -> LiveParts:
    """The D-Bus source, the diagnosis step and the kernel source for the machine whose bus is
    `bus_address` (None: the system bus) and whose files are under `root`."""
    bus = DBusSource(bus_address)
    probe = SystemProbe(root)

    def diagnose(findings: Sequence[Finding], live: Optional[LiveState]) -> Sequence[Finding]:
        if live is not None and not live.unit_files and any(
                f.cause is not None and f.cause.kind is CauseKind.MISSING_UNIT for f in findings):
            try:  # which unit file declares the missing alias, and is it enabled
                live = replace(live, unit_files=bus.read_unit_files())
            except SourceError:
                pass  # the diagnosis falls back to the unit files on disk
        return diagnose_all(findings, probe, live, links=bus.unit_file_links if live is not None else None)

    return LiveParts(bus, diagnose, KernelSource(root))


def check_measure(unit: str, seconds: float) -> None:
    """`churn --measure UNIT --seconds N`, checked before anything is scanned."""
    if not is_unit_name(unit) or seconds <= 0:
        raise UsageError("--measure needs a unit name and --seconds a positive number")


def measure_churn(unit: str, seconds: float, bus_address: Optional[str], root: str = "/"):
    """`churn --measure`: watch `unit` for `seconds` and count what its starts create."""
    return cgroup_watch.measure(unit, seconds, DBusSource(bus_address), KernelSource(root))
