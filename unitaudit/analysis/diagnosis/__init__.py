"""Diagnosis: what the live system says about a finding's cause.

Pure functions of the finding, a SystemProbe (the only thing that looks at
files and runs read-only tools) and the live unit states.  One diagnosis per
cause kind:

- missing-unit: alias-missing, disabled-on-purpose, no-unit-declares-it,
  alias-present, alias-dangling (missing_unit.py)
- execstartpre-failed: module-missing, module-missing-dkms-available,
  module-present, executable-missing, command-failed, not-failing-now
  (exec_start_pre.py)
- logrotate-config: config-error, insecure-directories,
  config-error+insecure-directories, no-longer-present, unexplained (logrotate.py)

and `diagnosis-failed` when the probe itself broke.  A diagnosis never stops a scan.
"""
from __future__ import annotations
import subprocess
from dataclasses import replace
from typing import Callable, Dict, Iterable, Optional, TYPE_CHECKING, Tuple

from unitaudit.analysis.diagnosis.exec_start_pre import diagnose_exec_start_pre
from unitaudit.analysis.diagnosis.logrotate import diagnose_logrotate
from unitaudit.analysis.diagnosis.missing_unit import Links, diagnose_missing_unit
from unitaudit.errors import ProbeUnavailable
from unitaudit.model import CauseKind, Diagnosis, Finding, LiveState

if TYPE_CHECKING:  # the probing interface is passed in: analysis reads no system itself
    from unitaudit.sources.probe import SystemProbe

__all__ = ["diagnose", "diagnose_all", "Links"]

_Diagnose = Callable[[Finding, "SystemProbe", Optional[LiveState]], Optional[Diagnosis]]
_BY_CAUSE: Dict[CauseKind, _Diagnose] = {
    CauseKind.EXECSTARTPRE_FAILED: diagnose_exec_start_pre,
    CauseKind.LOGROTATE_CONFIG: diagnose_logrotate,
}


def diagnose(finding: Finding, probe: SystemProbe, live: Optional[LiveState],
             links: Optional[Links] = None) -> Optional[Diagnosis]:
    """The diagnosis of one finding's cause; None when it has no cause this module explains."""
    cause = finding.cause
    if cause is None:
        return None
    try:
        if cause.kind is CauseKind.MISSING_UNIT:
            return diagnose_missing_unit(finding, probe, live, links)
        handler = _BY_CAUSE.get(cause.kind)
        return handler(finding, probe, live) if handler else None
    except (OSError, subprocess.SubprocessError, ProbeUnavailable, ValueError, UnicodeError) as e:
        return Diagnosis(cause.kind, "diagnosis-failed", "could not diagnose: %s" % e, (("error", str(e)),))


def diagnose_all(findings: Iterable[Finding], probe: SystemProbe, live: Optional[LiveState],
                 links: Optional[Links] = None) -> Tuple[Finding, ...]:
    """Every finding, with `diagnosis` set where there is one.  Findings that share a cause
    (an activation loop and its failure) are diagnosed once."""
    done: Dict[Tuple[CauseKind, str, str], Optional[Diagnosis]] = {}
    out = []
    for f in findings:
        if f.cause is None:
            out.append(f)
            continue
        key = (f.cause.kind, f.unit, f.cause.summary)
        if key not in done:
            done[key] = diagnose(f, probe, live, links)
        out.append(replace(f, diagnosis=done[key]) if done[key] is not None else f)
    return tuple(out)
