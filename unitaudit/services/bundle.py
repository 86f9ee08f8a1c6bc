"""`scan --bundle`, `fix --dry-run --bundle`, `churn --bundle`: a bundle (or a sos report) read as
the machine it came from.

The bundle is opened safely into a private temporary directory (sources/bundle/extract.py), and
its parts are the live scan's parts answered from the record: the journal it holds read by the
journal passes (export format), its unit states as the D-Bus source's answer, its probe answers
behind the probing interface the diagnosis uses (sources/bundle/probe.py), its kernel figures.
The scan itself is services/scan.py's, judged at the time the bundle was made: the same findings,
causes and verdicts as `scan` on that machine at that moment.
"""
import contextlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, replace
from typing import Iterator, Optional, Tuple

from unitaudit.errors import BundleError, SourceError
from unitaudit.model import KernelFacts, LiveState, Progress, ScanResult, Thresholds, UnitFile
from unitaudit.services.fix import plan_fix
from unitaudit.services.parts import LiveParts, diagnosis_step
from unitaudit.services.scan import scan
from unitaudit.sources.bundle import codec, listing
from unitaudit.analysis.diagnosis.missing_unit import UNIT_DIRS
from unitaudit.sources.bundle.extract import OpenedBundle, open_bundle
from unitaudit.sources.bundle.manifest import READ_FLAGS
from unitaudit.sources.bundle.probe import Answers, BundleProbe, answers_from_json
from unitaudit.sources.bundle.sos import read_sos
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.kernel import KernelSource
from unitaudit.sources.probe import SystemProbe
from unitaudit.sources.textlog import TextLogSource
from unitaudit.util.names import is_unit_name
from unitaudit.util.times import iso_utc

_JSON_MAX = 256 << 20


@dataclass(frozen=True)
class BundleScan:
    """A bundle's evidence, ready for scan.scan."""

    kind: str  # "unitaudit" | "sos"
    sources: tuple
    parts: LiveParts
    probe: BundleProbe
    now: float
    since: Optional[float]
    until: Optional[float]
    notes: Tuple[str, ...]
    recorded_ids: Optional[Tuple[str, ...]] = None  # the finding ids of the bundle's scan.json


@contextlib.contextmanager
def opened(path: str) -> Iterator[BundleScan]:
    """The bundle at `path` opened for a scan; its temporary directory is gone afterwards."""
    work = tempfile.mkdtemp(prefix="unitaudit-bundle-")
    try:
        bundle = open_bundle(path, work)
        yield _unitaudit(bundle, work) if bundle.kind == "unitaudit" else _sos(bundle, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def scan_opened(b: BundleScan, chosen: Thresholds) -> ScanResult:
    """The scan of an opened bundle, judged when it was made, with its notes first; and a note
    when its findings are not those the machine's own scan reported then (another unitaudit
    version, other thresholds)."""
    result = scan(b.sources, chosen, now=b.now, since=b.since, until=b.until, **b.parts._asdict())
    notes = b.notes
    if b.recorded_ids is not None and set(b.recorded_ids) != {f.id for f in result.findings}:
        notes += ("the machine's own scan at collect time reported %d finding(s) (scan.json), this one %d: "
                  "another unitaudit version or other thresholds" % (len(b.recorded_ids), len(result.findings)),)
    return replace(result, notes=notes + result.notes)


def scan_bundle(path: str, chosen: Thresholds, progress: Optional[Progress] = None) -> ScanResult:
    """`progress`: a display its sources tell how far they have read."""
    with opened(path) as b:
        for source in b.sources:
            source.progress = progress
        return scan_opened(b, chosen)


def plan_bundle(path: str, chosen: Thresholds, **selection):
    """`fix --dry-run --bundle`: the scan, and the plan `fix` would run on that machine (planned
    through the bundle's probe); `selection`: plan_fix's keyword arguments."""
    with opened(path) as b:
        result = scan_opened(b, chosen)
        plan, recording = plan_fix(result.findings, "/", probe=b.probe, **selection)
    return result, plan, recording


# -- unitaudit's own bundles ---------------------------------------------------------------------
class _Recorded:
    """The D-Bus source's and the kernel source's answers, as collect recorded them."""

    def __init__(self, live: Optional[LiveState], unit_files: Tuple[UnitFile, ...], links: dict,
                 facts: Optional[KernelFacts], nodes: dict) -> None:
        self._live, self._unit_files, self._links, self._facts, self._nodes = live, unit_files, links, facts, nodes

    def read(self) -> LiveState:
        if self._live is None:
            raise SourceError("the bundle holds no unit states (D-Bus could not be read when it was collected)")
        return self._live

    def read_unit_files(self) -> Tuple[UnitFile, ...]:
        return self._unit_files

    def unit_file_links(self, names, runtime: bool = False):
        return {n: self._links.get(n) for n in names}

    def facts(self) -> Optional[KernelFacts]:
        return self._facts

    def unit_nodes(self, unit: str):
        return self._nodes.get(unit)


def _unitaudit(bundle: OpenedBundle, work: str) -> BundleScan:
    top, manifest = bundle.top, bundle.manifest or {}
    where = "the bundle"
    units = _json(top, "units.json")
    kernel = _json(top, "kernel.json")
    live = codec.live_state(units["live"]) if units.get("live") is not None else None
    if live is not None:  # said as what it is: a record, not this machine's bus
        live = replace(live, address="recorded in %s (%s)" % (os.path.basename(bundle.source.rstrip("/")), live.address))
    unit_files = tuple(codec.from_json(UnitFile, u, "units.json unit_files") for u in _list(units, "unit_files"))
    links = {}
    for item in _list(units, "unit_file_links"):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and is_unit_name(item[0])
                and (item[1] is None or (isinstance(item[1], list) and all(isinstance(p, str) for p in item[1])))):
            raise BundleError("units.json: a unit_file_links entry is not [unit, [paths] or null]")
        links[item[0]] = tuple(item[1]) if item[1] is not None else None
    nodes = {}
    for item in _list(kernel, "unit_nodes"):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
            raise BundleError("kernel.json: a unit_nodes entry is not [unit, nodes]")
        nodes[item[0]] = codec.unit_nodes(item[1])
    recorded = _Recorded(live, unit_files, links, codec.kernel_facts(kernel.get("facts")), nodes)
    probe = BundleProbe(os.path.join(top, "root"), answers_from_json(_json(top, "probe.json"), where))
    window = manifest.get("window") if isinstance(manifest.get("window"), dict) else {}
    journal = manifest.get("journal") if isinstance(manifest.get("journal"), dict) else {}
    now = _number(window.get("now"), "window.now") or _number(manifest.get("created"), "created")
    if now is None:
        raise BundleError("manifest.json says neither when the bundle was made nor its window")
    since = _number(window.get("since"), "window.since")
    until = _number(window.get("until"), "window.until")
    cut = _number(journal.get("cut_before"), "journal.cut_before")
    notes = []
    if cut is not None:
        since = max(since or cut, cut)
        notes.append("the bundle's journal starts at %s: older entries were left out to fit --max-size" % iso_utc(cut))
    ids = journal.get("message_ids")
    unique = {"MESSAGE_ID": {i.encode() for i in ids if isinstance(i, str)}} if isinstance(ids, list) else None
    source = JournalSource(export=os.path.join(top, "journal.export"), export_unique=unique, since=since, until=until)
    source.path = "bundle %s journal" % os.path.basename(bundle.source.rstrip("/"))
    parts = LiveParts(recorded if live is not None else None, diagnosis_step(recorded, probe), recorded)
    notes.append("bundle of %s made at %s: the findings as of then" % (manifest.get("host", "?"), iso_utc(now)))
    return BundleScan("unitaudit", (source,), parts, probe, now, since, until, tuple(notes), _recorded_ids(top))


def _recorded_ids(top: str) -> Optional[Tuple[str, ...]]:
    """The ids of the findings the machine's own scan reported (scan.json), None without one."""
    if not os.path.exists(os.path.join(top, "scan.json")):
        return None
    findings = _json(top, "scan.json").get("findings")
    if not isinstance(findings, list):
        raise BundleError("the bundle's scan.json has no findings list")
    return tuple(str(f.get("id")) for f in findings if isinstance(f, dict))


def _json(top: str, name: str) -> dict:
    try:
        with os.fdopen(os.open(os.path.join(top, name), READ_FLAGS), "rb") as f:
            data = f.read(_JSON_MAX + 1)
    except OSError as e:
        raise BundleError("the bundle's %s cannot be read: %s" % (name, e.strerror or e)) from None
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise BundleError("the bundle's %s is not JSON: %s" % (name, e)) from None
    if not isinstance(value, dict):
        raise BundleError("the bundle's %s is not a JSON object" % name)
    return value


def _list(data: dict, key: str) -> list:
    value = data.get(key, [])
    if not isinstance(value, list):
        raise BundleError("%s is not a list" % key)
    return value


def _number(value, what: str) -> Optional[float]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1e11:
        raise BundleError("manifest.json: %s is not a time" % what)
    return float(value)


# -- sos reports --------------------------------------------------------------------------------
_KERNEL_FILES = ("/proc/meminfo", "/proc/slabinfo", "/proc/cgroups", "/proc/self/mountinfo",
                 "/proc/sys/kernel/osrelease", "/sys/fs/cgroup/cgroup.stat")


def _sos(bundle: OpenedBundle, work: str) -> BundleScan:
    sos = read_sos(bundle.top)
    release = sos.kernel_release
    modules = {(m, release): f for m, f in sos.module_answers.items()} if release else {}
    # sos's systemd and logrotate plugins copy these whole: a file missing there is missing
    complete = UNIT_DIRS + ("/etc/logrotate.d",)
    listed = listing.directories(SystemProbe(bundle.top).read_text(listing.LOG_LISTING, limit=64 << 20) or "")
    stats = {(path, follow): info for path, info in listed.items() for follow in (False, True)}
    answers = Answers(stats=stats, modules=modules, kernel_release=release, systemd_version=sos.systemd_version,
                      complete_dirs=complete, where="the sos report")
    probe = BundleProbe(bundle.top, answers, links_on_disk=True, members=bundle.members)
    facts = _sos_kernel(probe, work, release)
    live = LiveState("sos report %s" % os.path.basename(bundle.source.rstrip("/")), sos.unit_states, (), 0.0)
    recorded = _Recorded(live, (), {}, facts, {})
    if sos.collected_at is None:
        raise BundleError("%s: the sos report does not say when it was made (no sos_reports/manifest.json "
                          "or sos_logs/sos.log)" % bundle.source)
    notes = ["sos report of %s made at %s" % (sos.hostname or "?", iso_utc(sos.collected_at))]
    notes += ["not in the sos report: %s (%s)" % (fact, why) for fact, why in sos.lacks]
    sources = tuple(_named(TextLogSource(p), bundle, p) for p in sos.text_logs)
    parts = LiveParts(recorded, diagnosis_step(recorded, probe), recorded)
    return BundleScan("sos", sources, parts, probe, sos.collected_at, None, sos.collected_at, tuple(notes))


def _named(source, bundle: OpenedBundle, path: str):
    """A source named by the bundle and the member it reads, not by the temporary directory."""
    source.path = "%s:%s" % (os.path.basename(bundle.source.rstrip("/")), os.path.relpath(path, bundle.top))
    return source


def _sos_kernel(probe: BundleProbe, work: str, release: Optional[str]) -> KernelFacts:
    """The kernel figures from the /proc and /sys files the report copied, read by the kernel
    source from a copy made through the probe (which never follows a link out of the report)."""
    base = os.path.join(work, "kernel-files")
    for path in _KERNEL_FILES:
        data = probe.read_bytes(path, 64 << 20)
        if data is None:
            continue
        target = base + path
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "xb") as f:
            f.write(data)
    facts = KernelSource(base).facts()
    if not facts.release and release:
        facts = replace(facts, release=release)
    return facts
