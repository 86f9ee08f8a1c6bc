"""One structured journal entry per timer run, for fleets that forward journals
(systemd-journal-upload / journal-remote): `journalctl MESSAGE_ID=763ed56c1fec4f20bedf94e6a954a128`
finds every run of every machine, and the UNITAUDIT_* fields aggregate without parsing MESSAGE.

The catalog entry for the MESSAGE_ID is packaging/debian/unitaudit.catalog (`journalctl -x`).
A failed scan carries UNITAUDIT_ERROR and no counts: a count it did not make would read as
"no loops" to whoever sums the fields.
"""
import json
from typing import Dict, List

from unitaudit.model import FindingKind
from unitaudit.report import json_out
from unitaudit.model import RunSummary

SUMMARY_MESSAGE_ID = "763ed56c1fec4f20bedf94e6a954a128"

# Field per kind; every kind present (0 when none) so that fleet queries can sum them.
_KIND_FIELDS = (
    (FindingKind.RESTART_LOOP, "UNITAUDIT_RESTART_LOOPS"),
    (FindingKind.ACTIVATION_LOOP, "UNITAUDIT_ACTIVATION_LOOPS"),
    (FindingKind.REPEATED_FAILURE, "UNITAUDIT_REPEATED_FAILURES"),
    (FindingKind.START_LIMIT_HIT, "UNITAUDIT_START_LIMIT_HITS"),
    (FindingKind.FAILURE, "UNITAUDIT_FAILURES"),
)
_LISTED = 5  # findings named in MESSAGE; the rest are counted ("and 4 more")


def fields(result, run: RunSummary) -> Dict[str, str]:
    """The entry's fields, all strings.  `result`: a scan.ScanResult, or None when the scan failed."""
    failed = run.error is not None or result is None
    out = {
        "MESSAGE": _message(result, run, failed),
        "MESSAGE_ID": SUMMARY_MESSAGE_ID,
        "PRIORITY": "3" if failed else ("4" if result.findings else "6"),  # err / warning / info
        "SYSLOG_IDENTIFIER": "unitaudit",
    }
    if result is not None:
        found = result.findings
        out["UNITAUDIT_LOOPS"] = str(len(found))
        for kind, name in _KIND_FIELDS:
            out[name] = str(sum(1 for f in found if f.kind is kind))
        out["UNITAUDIT_UNITS"] = " ".join(dict.fromkeys(f.unit for f in found))  # unique, in order
        out["UNITAUDIT_FINDINGS"] = json.dumps(json_out.clean([_finding(f) for f in found]), separators=(",", ":"),
                                               ensure_ascii=False, allow_nan=False)  # strict JSON, as --json
        churn = [f.churn.cgroups_per_hour for f in found if f.churn is not None]
        if churn or not found:
            out["UNITAUDIT_CHURN_CGROUPS_PER_HOUR"] = _num(round(sum(churn), 2))
    if run.entries_read is not None:
        out["UNITAUDIT_ENTRIES_READ"] = str(run.entries_read)
    out["UNITAUDIT_DURATION_USEC"] = str(int(round(run.seconds * 1e6)))
    out["UNITAUDIT_READ_FROM"] = run.read_from.value
    if failed:
        out["UNITAUDIT_ERROR"] = run.error or "the scan returned no result"
    out["UNITAUDIT_VERSION"] = run.version
    kernel = result.kernel if result is not None else None
    if kernel is not None and kernel.sunreclaim_kb is not None:
        out["UNITAUDIT_SUNRECLAIM_KB"] = str(kernel.sunreclaim_kb)
    if kernel is not None and kernel.kernfs_objects is not None:
        out["UNITAUDIT_KERNFS_OBJECTS"] = str(kernel.kernfs_objects)
    return out


def _finding(f) -> dict:
    out = {"id": f.id, "kind": f.kind.value, "unit": f.unit, "count": f.count, "rate_per_hour": f.rate_per_hour,
           "cgroups_per_hour": f.churn.cgroups_per_hour if f.churn is not None else None}
    if f.host:
        out["host"] = f.host
    return out


def _message(result, run: RunSummary, failed: bool) -> str:
    if run.entries_read is not None:
        read = "read %d journal entr%s in %.1f s" % (run.entries_read, "y" if run.entries_read == 1 else "ies", run.seconds)
    else:
        read = "ran %.1f s" % run.seconds
    if failed:
        error = " ".join((run.error or "the scan returned no result").split())  # MESSAGE stays one line
        return "unitaudit: scan failed: %s; %s" % (error, read)
    found = result.findings
    if not found:
        return "unitaudit: no loops; %s" % read
    named: List[str] = []
    for f in found[:_LISTED]:
        words = [f.kind.value, f.unit]  # no host: the entry's own _HOSTNAME says it
        if f.rate_per_hour is not None:
            words.append("%s/h" % _num(round(f.rate_per_hour) if f.rate_per_hour >= 10 else round(f.rate_per_hour, 1)))
        named.append(" ".join(words))
    if len(found) > _LISTED:
        named.append("and %d more" % (len(found) - _LISTED))
    return "unitaudit: %d loop%s (%s); %s" % (len(found), "" if len(found) == 1 else "s", ", ".join(named), read)


def _num(v) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)
