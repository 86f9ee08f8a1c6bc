"""What the tests build their cases from: where the test data lives, events and findings from text
logs, real journal files from entries, and entries back from journal exports.  Imported as
`from builders import ...` (pyproject.toml's `pythonpath` lists tests/, [tool.pytest.ini_options])."""
import json
import os
import subprocess
import time
from pathlib import Path
from typing import List, Optional

from unitaudit.analysis.detectors import run_all
from unitaudit.analysis.evidence import Evidence, fold
from unitaudit.model import Event, Finding, Sightings, Thresholds
from unitaudit.sources.textlog import TextLogSource
from unitaudit.sources.textlog.lines import LineParser

# -- where the test data lives -------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "examples"


def fixture(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)


def example(*parts: str) -> Path:
    p = EXAMPLES.joinpath(*parts)
    if not p.exists():
        raise AssertionError("missing recorded example %s (python -m examples.record_lab records it)" % p)
    return p


# -- events, evidence and findings from text logs -----------------------------------------------
def text_events(path, use_grep: Optional[bool] = None, **kw) -> List[Event]:
    """Every sighting as an Event, in time order (sources hand them over in batches)."""
    return unbatch(TextLogSource(str(path), use_grep=use_grep, **kw).events())


def unbatch(items) -> List[Event]:
    out: List[Event] = []
    for item in items:
        if isinstance(item, Sightings):
            out.extend(_sighted(item))
        else:
            out.append(item)
    out.sort(key=lambda e: (e.time is None, e.time or 0.0))
    return out


def _sighted(item: Sightings) -> List[Event]:
    """One Event per time a batch of sightings counted, its raw sample where one was kept."""
    raw = {e.time: e for e in item.samples}
    out = [raw.get(t) or Event(t, item.message, None, None) for t in item.times]
    undated_samples = [e for e in item.samples if e.time is None]
    out.extend(Event(None, item.message, e.pid, e.raw) for e in undated_samples)
    out.extend(Event(None, item.message, None, None) for _ in range(item.undated - len(undated_samples)))
    return out


def text_evidence(*paths) -> Evidence:
    items: list = []
    for p in paths:
        items.extend(TextLogSource(str(p)).events())
    return fold(items)


def parse_lines(lines, reference: float = 0.0) -> List[Event]:
    parser = LineParser(reference or time.time())
    out = []
    for line in lines:
        ev = parser.parse(line.encode() if isinstance(line, str) else line)
        if ev is not None:
            out.append(ev)
    return out


def findings(evidence: Evidence, th: Thresholds = Thresholds(), units=None, now: float = 0.0) -> List[Finding]:
    return run_all(evidence, units or {}, now or (evidence.end or time.time()), th)


def by_kind(found: List[Finding], kind: str) -> List[Finding]:
    return [f for f in found if f.kind.value == kind]


# -- real journal files ---------------------------------------------------------------------------
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"


def write_journal(entries, path) -> str:
    """A real journal file from entries (dicts of field -> str), via systemd-journal-remote.

    Used to replay captured `journalctl -o json` entries, or recorded entries with
    one trusted field changed, through the real journal reader."""
    if not os.path.exists(JOURNAL_REMOTE):
        raise AssertionError("systemd-journal-remote is missing: `make setup` installs it")
    export = bytearray()
    for e in entries:
        for k, v in e.items():
            if k == "__CURSOR":
                continue
            if isinstance(v, list):  # journalctl -o json prints a non-UTF-8 value as a byte array
                v = bytes(v)
            v = v.encode() if isinstance(v, str) else v
            if b"\n" in v:
                export += k.encode() + b"\n" + len(v).to_bytes(8, "little") + v + b"\n"
            else:
                export += k.encode() + b"=" + v + b"\n"
        export += b"\n"
    path = str(path)
    subprocess.run([JOURNAL_REMOTE, "-o", path, "-"], input=bytes(export), check=True, capture_output=True)
    return path


def json_pretty_entries(text: str):
    """Entries from `journalctl -o json-pretty` output (objects one after another)."""
    dec = json.JSONDecoder()
    i, out = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def export_entries(path):
    """Entries of a journal export file (`journalctl -o export`), fields as bytes."""
    data = open(path, "rb").read()
    entries, cur, i = [], {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if not line:
            if cur:
                entries.append(cur)
            cur, i = {}, nl + 1
            continue
        if b"=" in line:
            k, v = line.split(b"=", 1)
            cur[k.decode()] = v
            i = nl + 1
        else:  # binary-safe form: name, newline, 64-bit little-endian size, data, newline
            size = int.from_bytes(data[nl + 1:nl + 9], "little")
            cur[line.decode()] = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
    if cur:
        entries.append(cur)
    return entries


# What changes between two reads of a running loop a moment apart: when, how often, how fast.
TIMING_FIELDS = frozenset(("count", "rate_per_hour", "first_seen", "last_seen", "period_seconds", "evidence",
                           "summary", "facts", "churn"))


def stable_findings(doc: dict) -> dict:
    """A scan document's findings by id, without their timing fields (the cause's count and
    summary, which quote counts, too): what two scans of one machine a moment apart share."""
    out = {}
    for f in doc["findings"]:
        kept = {k: v for k, v in f.items() if k not in TIMING_FIELDS}
        if kept.get("cause"):
            kept["cause"] = {k: v for k, v in kept["cause"].items() if k not in ("count", "summary")}
        out[f["id"]] = kept
    return out


def loop_of(finding: dict) -> tuple:
    """(kind, cause kind, diagnosis verdict) of a JSON finding: what two live reads a moment apart
    must agree on, whatever a looping unit's state was at each."""
    return (finding["kind"], (finding.get("cause") or {}).get("kind"), (finding.get("diagnosis") or {}).get("verdict"))
