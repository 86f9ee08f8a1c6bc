"""What a live scan adds to the journal: unit states over D-Bus and the diagnosis of each cause.

Kept out of the CLI so that it stays thin, and out of scan.py so that an offline scan never
imports dbus-next."""
from dataclasses import replace
from typing import Callable, Optional, Sequence, Tuple

from unitaudit.errors import SourceError
from unitaudit.model import CauseKind, Finding, LiveState


def live_parts(bus_address: Optional[str], root: str = "/") -> Tuple[object, Callable, object]:
    """The D-Bus source, the diagnosis step and the kernel source for
    `scan.scan(live_source=..., diagnose=..., kernel=...)`."""
    from unitaudit.analysis.diagnosis import diagnose_all
    from unitaudit.sources.dbus import DBusSource
    from unitaudit.sources.probe import SystemProbe

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

    from unitaudit.sources.kernel import KernelSource

    return bus, diagnose, KernelSource(root)
