"""The JSON document (`--json`).  Its shape is a contract: bump SCHEMA on any
incompatible change."""
from dataclasses import asdict
from typing import IO

from unitaudit import __version__
from unitaudit.model import Finding
from unitaudit.report import json_out
from unitaudit.model import ScanResult
from unitaudit.util.times import iso_utc

SCHEMA = "unitaudit.report/1"


def finding_to_dict(f: Finding) -> dict:
    return {
        "id": f.id,
        "kind": f.kind.value,
        "unit": f.unit,
        "host": f.host or None,
        "machine_id": f.machine_id,
        "count": f.count,
        "rate_per_hour": f.rate_per_hour,
        "first_seen": iso_utc(f.first_seen),
        "last_seen": iso_utc(f.last_seen),
        "period_seconds": f.period_seconds,
        "trusted": f.trusted,
        "summary": f.summary,
        "detector": f.detector,
        "cause": f.cause.to_dict() if f.cause else None,
        "diagnosis": f.diagnosis.to_dict() if f.diagnosis else None,
        "churn": f.churn.to_dict() if f.churn else None,
        "evidence": list(f.evidence),
        "facts": dict(f.facts),
    }


def _live(result: ScanResult):
    """null on an offline scan or when the bus could not be read (the warning says why)."""
    live = result.live
    if live is None:
        return None
    return {"bus_address": live.address, "units": len(live.units), "unit_files": len(live.unit_files) or None,
            "seconds": round(live.seconds, 3)}


def to_document(result: ScanResult, incremental=None) -> dict:
    """`incremental`: incremental.Incremental of a `scan --incremental` run, else null."""
    return {
        "schema": SCHEMA,
        "tool": {"name": "unitaudit", "version": __version__},
        "generated_at": iso_utc(result.now),
        "window": {"since": iso_utc(result.since), "until": iso_utc(result.until)},
        "evidence_span": {"first": iso_utc(result.evidence_start), "last": iso_utc(result.evidence_end)},
        "thresholds": asdict(result.thresholds),
        "sources": [s.to_dict() for s in result.sources],
        "live": _live(result),
        "kernel": asdict(result.kernel) if result.kernel is not None else None,
        "warnings": result.warnings,
        "incremental": _incremental(incremental),
        "findings": [finding_to_dict(f) for f in result.findings],
    }


def _incremental(info):
    if info is None:
        return None
    out = info.to_dict()
    out["previous_end"], out["end"] = iso_utc(info.previous_end), iso_utc(info.end)
    return out


def write(result: ScanResult, out: IO[str], incremental=None) -> None:
    json_out.write(to_document(result, incremental), out)
