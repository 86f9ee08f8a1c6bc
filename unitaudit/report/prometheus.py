"""The hourly run in node_exporter's textfile collector format (Prometheus text format 0.0.4).

`render` words a scan (or its failure) as metrics; hourly/outputs.py writes them where
node_exporter's `--collector.textfile.directory` reads them, atomically.

Metrics (every family has HELP and TYPE; base units; `_total` only on the counter):

per finding, labels `unit`, `kind` and `host` (only when the evidence named one):
  unitaudit_loop_active                       gauge 1; also carries `cause` when known
  unitaudit_loop_window_events                gauge: events in this run's window (Finding.count)
  unitaudit_loop_events_per_second            gauge: Finding.rate_per_hour / 3600
  unitaudit_loop_events_total                 counter: events seen across all runs (history)
  unitaudit_loop_cgroups_created_per_second   gauge: churn, cgroup directories created
  unitaudit_loop_kernfs_nodes_created_per_second  gauge: churn, kernfs nodes created
  unitaudit_loop_kernfs_bytes_per_second      gauge: churn, kernfs_node_cache bytes allocated
  unitaudit_loop_trusted                      gauge 1/0: journald's fields prove every line
  unitaudit_loop_fix_failed                   gauge 1 (hourly run only): the loop's newest fix within
                                              the retention did not stop it; label `origin`: fix or auto-apply
unitaudit_loops{kind}                         gauge: findings per kind, every kind, 0 when none
unitaudit_fixes_failed                        gauge (hourly run only): loops with a failed fix, 0 when none
kernel (each only when read): unitaudit_slab_bytes, unitaudit_slab_reclaimable_bytes,
  unitaudit_slab_unreclaimable_bytes, unitaudit_kernfs_node_cache_objects,
  unitaudit_kernfs_node_cache_active_objects, unitaudit_kernfs_node_cache_object_size_bytes,
  unitaudit_cgroup_dying_descendants, unitaudit_cgroups{controller}, unitaudit_memcg_slab_caches
run: unitaudit_last_run_timestamp_seconds (start), unitaudit_last_run_duration_seconds,
  unitaudit_last_run_success, unitaudit_scan_errors, unitaudit_scan_warnings,
  unitaudit_journal_entries_read, unitaudit_info{version,read_from}

Two choices differ from the obvious names:
- the window count is `unitaudit_loop_window_events`, not `unitaudit_loop_events`: a gauge
  `x` beside a counter `x_total` is one family name twice for OpenMetrics and prometheus_client
  (a counter family is named without `_total`).
- `cause` labels `unitaudit_loop_active` only: a cause read from the evidence can appear or
  change between runs, and a label that changes starts a new series, which would break
  `rate(unitaudit_loop_events_total[...])`.  Join on (unit, kind, host) to get it.
No sample has a timestamp: node_exporter refuses textfiles with timestamps.
"""
import math
from typing import Dict, List, Tuple

from unitaudit.model import FindingKind, RunSummary


Labels = Tuple[Tuple[str, str], ...]


class _Family:
    def __init__(self, name: str, typ: str, help_text: str) -> None:
        self.name, self.typ, self.help = name, typ, help_text
        self.samples: List[Tuple[Labels, str]] = []

    def add(self, value, **labels: str) -> None:
        self.samples.append((tuple((k, v) for k, v in labels.items() if v), format_value(value)))

    def lines(self) -> List[str]:
        out = ["# HELP %s %s" % (self.name, self.help.replace("\\", r"\\").replace("\n", r"\n")),
               "# TYPE %s %s" % (self.name, self.typ)]
        for labels, value in self.samples:
            body = ",".join('%s="%s"' % (k, _escape(v)) for k, v in labels)
            out.append("%s{%s} %s" % (self.name, body, value) if body else "%s %s" % (self.name, value))
        return out


class _Families:
    """The metric families in the order they are first named; a family without samples says
    nothing: left out, HELP and TYPE too."""

    def __init__(self) -> None:
        self._by_name: Dict[str, _Family] = {}

    def __call__(self, name: str, typ: str, help_text: str) -> _Family:
        return self._by_name.setdefault(name, _Family("unitaudit_" + name, typ, help_text))

    def text(self) -> str:
        out: List[str] = []
        for f in self._by_name.values():
            if f.samples:
                out += f.lines()
        return "\n".join(out) + "\n"


def _escape(v: str) -> str:
    # The label value escapes of the text format, backslash first.
    return v.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")


def format_value(v) -> str:
    """A sample value as the text format writes it: Go's float syntax, 1/0 for a bool."""
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    v = float(v)
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)  # shortest exact form; Go's ParseFloat reads 1e-05 and 1e+16


def render(result, run: RunSummary) -> str:
    """`result`: a scan.ScanResult, or None when the scan failed."""
    fam = _Families()
    findings = result.findings if result is not None else ()
    _loops(fam, findings, dict(run.totals))
    if run.fix_failures is not None:
        _fix_failures(fam, findings, run.fix_failures)
    # Every kind, 0 included: `unitaudit_loops{kind="restart-loop"} > 0` must have a series to test.
    loops = fam("loops", "gauge", "Findings of the last run per kind.")
    for kind in FindingKind:
        loops.add(sum(1 for f in findings if f.kind is kind), kind=kind.value)
    if result is not None and result.kernel is not None:
        _kernel(fam, result.kernel)
    _run(fam, result, run)
    return fam.text()


def _loops(fam: _Families, findings, totals: Dict[str, int]) -> None:
    active = fam("loop_active", "gauge", "A loop or failing unit found by the last run (1); cause when known.")
    window = fam("loop_window_events", "gauge", "Events of the finding in the last run's window.")
    rate = fam("loop_events_per_second", "gauge", "The finding's event rate over its evidence.")
    total = fam("loop_events_total", "counter", "Events of the finding seen across all runs.")
    cgroups = fam("loop_cgroups_created_per_second", "gauge", "Cgroup directories the loop creates (and removes).")
    nodes = fam("loop_kernfs_nodes_created_per_second", "gauge", "kernfs nodes the loop creates (and frees).")
    kbytes = fam("loop_kernfs_bytes_per_second", "gauge", "kernfs_node_cache bytes the loop allocates (and frees).")
    trusted = fam("loop_trusted", "gauge", "1 when journald's trusted fields prove who logged every line behind the finding.")
    for f in findings:
        key = {"unit": f.unit, "kind": f.kind.value, "host": f.host}
        active.add(1, **key, cause=f.cause.kind.value if f.cause else "")
        window.add(f.count, **key)
        if f.rate_per_hour is not None:
            rate.add(f.rate_per_hour / 3600, **key)
        if f.id in totals:
            total.add(totals[f.id], **key)
        if f.churn is not None:
            cgroups.add(f.churn.cgroups_per_hour / 3600, **key)
            nodes.add(f.churn.kernfs_nodes_per_hour / 3600, **key)
            if f.churn.bytes_per_day is not None:
                kbytes.add(f.churn.bytes_per_day / 86400, **key)
        trusted.add(f.trusted, **key)


def _fix_failures(fam: _Families, findings, failures) -> None:
    failed = {finding: origin for finding, _when, origin in failures}
    per_loop = fam("loop_fix_failed", "gauge", "1: the newest fix of this loop (by `origin`) did not stop it.")
    for f in findings:
        if f.id in failed:
            per_loop.add(1, unit=f.unit, kind=f.kind.value, host=f.host, origin=failed[f.id])
    fam("fixes_failed", "gauge", "Loops found whose newest fix did not stop them.").add(
        sum(1 for f in findings if f.id in failed))


def _kernel(fam: _Families, k) -> None:
    for name, kb, help_text in (("slab_bytes", k.slab_kb, "Slab memory (/proc/meminfo Slab)."),
                                ("slab_reclaimable_bytes", k.sreclaimable_kb, "Reclaimable slab (/proc/meminfo SReclaimable)."),
                                ("slab_unreclaimable_bytes", k.sunreclaim_kb, "Unreclaimable slab (/proc/meminfo SUnreclaim).")):
        if kb is not None:
            fam(name, "gauge", help_text).add(kb * 1024)
    for name, v, help_text in (
            ("kernfs_node_cache_objects", k.kernfs_objects, "kernfs_node_cache objects allocated (/proc/slabinfo)."),
            ("kernfs_node_cache_active_objects", k.kernfs_active_objects, "kernfs_node_cache objects in use (/proc/slabinfo)."),
            ("kernfs_node_cache_object_size_bytes", k.kernfs_object_size, "Size of one kernfs_node_cache object."),
            ("cgroup_dying_descendants", k.dying_descendants, "Dying cgroups under the root (cgroup v2 cgroup.stat)."),
            ("memcg_slab_caches", k.memcg_slab_caches, "Per-memcg slab cache directories (kernels before 5.9).")):
        if v is not None:
            fam(name, "gauge", help_text).add(v)
    per_controller = {sub: n for sub, _hier, n, _enabled in k.cgroups}
    if per_controller:
        cg = fam("cgroups", "gauge", "Cgroups per controller (/proc/cgroups num_cgroups).")
        for sub, n in per_controller.items():
            cg.add(n, controller=sub)


def _run(fam: _Families, result, run: RunSummary) -> None:
    failed = run.error is not None or result is None
    fam("last_run_timestamp_seconds", "gauge", "When the last run started.").add(run.started)
    fam("last_run_duration_seconds", "gauge", "How long the last run took.").add(run.seconds)
    fam("last_run_success", "gauge", "1 when the last run's scan completed.").add(not failed)
    fam("scan_errors", "gauge", "1 when the last run's scan failed.").add(failed)
    if result is not None:  # a failed scan read no sources: it has no warnings to count
        fam("scan_warnings", "gauge", "Warnings of the last run's scan.").add(len(result.warnings))
    if run.entries_read is not None:
        fam("journal_entries_read", "gauge", "Journal entries the last run read.").add(run.entries_read)
    fam("info", "gauge", "unitaudit's version and where the last run began reading the journal.").add(
        1, version=run.version, read_from=run.read_from.value)
