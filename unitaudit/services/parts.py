"""What joins the journal on a scan of one machine, live or from a bundle: its unit states, the
diagnosis of each cause through its probe, and its kernel figures.  No D-Bus here: a bundle's
parts (services/bundle.py) answer from what was recorded, a live scan's (services/live.py) ask."""
from dataclasses import replace
from typing import Callable, NamedTuple, Optional, Sequence

from unitaudit.analysis.diagnosis import diagnose_all
from unitaudit.errors import SourceError
from unitaudit.model import CauseKind, Finding, LiveState


class LiveParts(NamedTuple):
    """Keyword arguments of `scan.scan` (an incremental run takes them whole)."""

    live_source: object  # read() -> LiveState
    diagnose: Callable[[Sequence[Finding], Optional[LiveState]], Sequence[Finding]]
    kernel: object  # facts() -> KernelFacts, unit_nodes(unit): churn measured on the machine


def diagnosis_step(bus, probe) -> Callable[[Sequence[Finding], Optional[LiveState]], Sequence[Finding]]:
    """The diagnosis of a scan's findings through `probe`; `bus` (read_unit_files, unit_file_links)
    says which unit file declares a missing alias, and whether it is enabled."""

    def diagnose(findings: Sequence[Finding], live: Optional[LiveState]) -> Sequence[Finding]:
        if live is not None and not live.unit_files and any(
                f.cause is not None and f.cause.kind is CauseKind.MISSING_UNIT for f in findings):
            try:  # which unit file declares the missing alias, and is it enabled
                live = replace(live, unit_files=bus.read_unit_files())
            except SourceError:
                pass  # the diagnosis falls back to the unit files on disk
        return diagnose_all(findings, probe, live, links=bus.unit_file_links if live is not None else None)

    return diagnose
