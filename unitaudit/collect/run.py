"""`unitaudit collect`: the scan of this machine, run with every source recording what it read,
then the files and facts a diagnosis reads, packed into one bundle (FORMAT in bundle_file.py).

The scan is the live scan itself (services/scan.py with services/live.py's parts), so the bundle
holds exactly the journal entries, unit states and probe answers from which `scan` on this
machine draws its findings at this moment, and `scan --bundle` anywhere draws the same ones.
Read-only like scan: the only files written are the staging directory (private, removed) and
the bundle, plus the redaction mapping beside it with --redact.
"""
import lzma
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from typing import List, NamedTuple, Optional, Tuple

from unitaudit import __version__
from unitaudit.collect.bundle_file import Progress, Staging, pack, stamp
from unitaudit.collect.gather import gather, host_name
from unitaudit.collect.journal import EntryRecorder, write_export
from unitaudit.collect.recording import RecordingBus, RecordingKernel, RecordingProbe
from unitaudit.collect.redact import Redactor, human_users
from unitaudit.errors import UnitauditError, UsageError
from unitaudit.model import Thresholds
from unitaudit.report import json_report
from unitaudit.sources.bundle import codec
from unitaudit.sources.bundle.manifest import SCHEMA_PREFIX, SCHEMA_VERSION
from unitaudit.services.live import live_parts
from unitaudit.services.scan import scan, window
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.probe import SystemProbe
from unitaudit.util.times import iso_utc

DEFAULT_SINCE = "7d"
DEFAULT_MAX_SIZE = 50 << 20
_RETRIES = 3  # a bundle over --max-size is packed again with a smaller journal


@dataclass(frozen=True)
class CollectRequest:
    output: Optional[str]  # None: ./unitaudit-bundle-HOST-STAMP.tar.xz
    since: Optional[str] = DEFAULT_SINCE
    until: Optional[str] = None
    max_size: int = DEFAULT_MAX_SIZE
    redact: bool = False
    bus_address: Optional[str] = None
    root: str = "/"


@dataclass(frozen=True)
class Collected:
    path: str
    size: int
    findings: int
    journal_entries: int
    journal_cut_before: Optional[float]
    files: int
    left_out: Tuple[Tuple[str, str], ...]
    mapping: Optional[str]  # the redaction mapping's file (stays on this machine)


def parse_size(text: str) -> int:
    """--max-size: bytes, or with K, M, G (powers of 1024)."""
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().rstrip("b").rstrip("i")
    number, unit = (t[:-1], t[-1]) if t and t[-1] in units else (t, "")
    try:
        value = int(float(number) * units[unit])
    except ValueError:
        raise UsageError("--max-size %r: a size such as 50M, 200M or 1G" % text) from None
    if value < 1 << 20:
        raise UsageError("--max-size %r: at least 1M (the files and facts alone take that)" % text)
    return value


def collect(request: CollectRequest, base: Thresholds, progress: Optional[Progress] = None) -> Collected:
    span = window(request.since, request.until)
    host = host_name()
    redactor = _redactor(request.root, host) if request.redact else None
    name = "unitaudit-bundle-%s-%s" % (redactor.text(host) if redactor else host, stamp(span.now))
    output = request.output or os.path.abspath(name + ".tar.xz")
    _check_output(output)
    # staged beside the bundle, on the file system the user chose for it: a week's journal takes
    # hundreds of MB before compression, too much for a /tmp in memory (tmpfs, Debian 13's default)
    work = tempfile.mkdtemp(prefix=".unitaudit-collect-", dir=os.path.dirname(os.path.abspath(output)))
    try:
        os.makedirs(os.path.join(work, "runs"))
        recorder = EntryRecorder(os.path.join(work, "runs"), redactor.data if redactor else None)
        probe, bus, kernel = RecordingProbe(request.root), RecordingBus(request.bus_address), RecordingKernel(request.root)
        source = JournalSource(since=span.since, until=span.until, record=_counting(recorder, progress))
        parts = live_parts(request.bus_address, request.root, bus=bus, probe=probe, kernel=kernel)
        result = scan([source], base, now=span.end, since=span.since, until=span.until, **parts._asdict())
        recorder.close()
        staging = Staging(os.path.join(work, name), redactor.data if redactor else None,
                          redactor.text if redactor else None)
        gathered = gather(probe, result.live, staging.copy_in)
        if progress is not None:
            progress("copying files", len(gathered.copied), len(gathered.copied))
        _record_answers(staging, result, bus, kernel, probe, gathered)
        staging.add_json("scan.json", json_report.to_document(result))  # what scan said here, then
        left_out = list(gathered.left_out) + [("journal", w) for w in source.stats().warnings] + \
            [("kernel figures", u) for u in (result.kernel.unreadable if result.kernel else ()) if "permission" in u]
        # (the other reasons a figure is unknown, such as no memcg slab caches on kernels from 5.9,
        # are the machine's own facts: kept in kernel.json, not "left out")
        facts = _Facts(request, span, result, gathered, left_out,
                       sorted(i.decode("ascii", "replace") for i in source.unique("MESSAGE_ID")), host)
        size, written = _pack_within(staging, recorder, output, facts, progress)
        mapping = None
        if redactor is not None:
            mapping = output + ".redactions.json"
            redactor.write_mapping(mapping, bundle_dir=work)
        return Collected(output, size, len(result.findings), written.entries,
                         written.cut_before_us / 1e6 if written.cut_before_us is not None else None,
                         len(gathered.copied), tuple(left_out), mapping)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class _Facts(NamedTuple):
    """What the manifest says besides its members."""

    request: CollectRequest
    span: object  # scan.Window
    result: object  # ScanResult
    gathered: object  # gather.Gathered
    left_out: List[Tuple[str, str]]
    message_ids: List[str]
    host: str


def _record_answers(staging: Staging, result, bus: RecordingBus, kernel: RecordingKernel, probe: RecordingProbe,
                    gathered) -> None:
    """units.json, kernel.json, probe.json: what the machine answered."""
    live = result.live
    staging.add_json("units.json", {
        "live": codec.to_json(live) if live is not None else None,
        "unit_files": codec.to_json(bus.unit_files) if bus.unit_files else [],
        "unit_file_links": sorted([u, list(v) if v is not None else None] for u, v in bus.links.items()),
    })
    staging.add_json("kernel.json", {
        "facts": codec.to_json(result.kernel) if result.kernel is not None else None,
        "unit_nodes": sorted([u, codec.to_json(n) if n is not None else None] for u, n in kernel.nodes.items()),
    })
    answers = probe.answers()
    answers["complete_dirs"] = gathered.complete_dirs
    staging.add_json("probe.json", answers)


def _pack_within(staging: Staging, recorder: EntryRecorder, output: str, facts: _Facts,
                 progress: Optional[Progress]):
    """The journal, the manifest and the archive, within --max-size: over it, packed again with
    the journal cut further (oldest-first)."""
    limit = facts.request.max_size
    budget = limit - _others_compressed(staging) - (64 << 10)
    for _attempt in range(_RETRIES):
        journal_path = staging.path("journal.export")
        if os.path.exists(journal_path):
            os.unlink(journal_path)
        written = write_export(recorder.runs, journal_path, max(budget, 0))
        _write_manifest(staging, facts, written)
        size = pack(staging, output, facts.span.now, progress)
        if size <= limit:
            return size, written
        budget -= (size - limit) + (size >> 5)
        os.unlink(staging.path("manifest.json"))
    os.unlink(output)
    raise UnitauditError("the bundle stays over --max-size %d bytes even with its journal cut: "
                         "give a larger --max-size" % limit)


def _counting(recorder: EntryRecorder, progress: Optional[Progress]):
    if progress is None:
        return recorder

    def record(reader) -> None:
        recorder(reader)
        if recorder.read % 1000 == 0:
            progress("reading the journal", recorder.read, None)
    return record


def _check_output(output: str) -> None:
    parent = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(parent):
        raise UsageError("-o %s: no such directory %s" % (output, parent))
    if os.path.lexists(output):
        raise UsageError("-o %s: already exists (collect never overwrites a file)" % output)


def _others_compressed(staging: Staging) -> int:
    """About what the members other than the journal take once compressed."""
    total = 0
    for directory, _dirs, names in os.walk(staging.top):
        for n in names:
            with open(os.path.join(directory, n), "rb") as f:
                total += len(lzma.compress(f.read(), preset=1))
    return total


def _redactor(root: str, host: str) -> Redactor:
    probe = SystemProbe(root)
    users = human_users(probe.read_text("/etc/passwd") or "", probe.read_text("/etc/login.defs"))
    return Redactor(hosts=[host], users=users)


def _write_manifest(staging: Staging, facts: _Facts, written) -> None:
    request, span, result, gathered, left_out, message_ids, host = facts
    created = span.now
    cut = written.cut_before_us / 1e6 if written.cut_before_us is not None else None
    manifest = {
        "schema": "%s%d" % (SCHEMA_PREFIX, SCHEMA_VERSION),
        "tool": {"name": "unitaudit", "version": __version__},
        "created": created,
        "created_utc": iso_utc(created),
        "host": host,
        "root": request.root,
        "window": {"since": span.since, "until": span.until, "now": span.end},
        "thresholds": asdict(result.thresholds),
        "journal": {
            "entries": written.entries, "bytes": written.bytes,
            "first": written.first_us / 1e6 if written.first_us is not None else None,
            "last": written.last_us / 1e6 if written.last_us is not None else None,
            "cut_before": cut, "dropped": written.dropped,
            "message_ids": message_ids,
        },
        "findings_at_collect": len(result.findings),
        "redacted": request.redact,
        "collected": [
            {"what": "journal entries the scan reads (export format, trusted fields kept)", "members": ["journal.export"]},
            {"what": "unit states, unit files and links read over D-Bus", "members": ["units.json"]},
            {"what": "the scan's own report on this machine at collect time (unitaudit.report/1)",
             "members": ["scan.json"]},
            {"what": "kernel figures: slab, kernfs_node_cache, cgroup layout and counts, unit cgroup nodes",
             "members": ["kernel.json"]},
            {"what": "probe answers: owners, modes, links, dpkg-query -S, modinfo, kernel, systemd",
             "members": ["probe.json"]},
            {"what": "%d files at their paths: unit files, D-Bus service files, logrotate, os-release, /proc"
             % len(gathered.copied), "members": ["root/"]},
        ],
        "left_out": [{"what": w, "why": y} for w, y in left_out] +
                    ([{"what": "journal entries before %s" % iso_utc(cut), "why": "--max-size %d bytes: the journal "
                       "is cut oldest-first (%d entries dropped)" % (request.max_size, written.dropped)}] if cut else []),
        "members": staging.members(),
    }
    staging.add_json("manifest.json", manifest)
