"""`unitaudit churn`: per loop the estimate and the basis of each factor, beside the kernel's live figures."""
from dataclasses import asdict
from typing import IO, Optional

from unitaudit.report import json_out
from unitaudit.report.safe_text import safe
from unitaudit.report.text_layout import fmt_bytes, fold, width_of
from unitaudit.model import ScanResult

SCHEMA = "unitaudit.churn/1"


def _kernel_lines(k) -> list:
    if k is None:
        return ["kernel: not read (an offline scan)"]
    out = ["kernel %s, cgroup layout %s" % (safe(k.release), safe(k.cgroup_layout))]
    if k.slab_kb is not None:
        out.append("  Slab %d kB (SReclaimable %s kB, SUnreclaim %s kB)" % (k.slab_kb, k.sreclaimable_kb, k.sunreclaim_kb))
    if k.kernfs_active_objects is not None:
        out.append("  kernfs_node_cache %d active objects of %s bytes (%d allocated)" % (
            k.kernfs_active_objects, k.kernfs_object_size, k.kernfs_objects or 0))
    if k.dying_descendants is not None:
        out.append("  dying cgroups (nr_dying_descendants) %d" % k.dying_descendants)
    if k.memcg_slab_caches is not None:
        out.append("  per-memcg slab cache entries %d" % k.memcg_slab_caches)
    for name, _h, n, enabled in k.cgroups:
        if enabled:
            out.append("  /proc/cgroups %s: %d cgroups" % (safe(name), n))
    out += ["  not read: %s" % safe(why) for why in k.unreadable]
    return out


def write_text(result: ScanResult, out: IO[str], unit: Optional[str] = None) -> None:
    """The kernel's figures, then a block per loop: its headline figures and the basis of each
    factor, folded between words at the terminal's width (80 on a pipe)."""
    width = width_of(out)

    def say(text: str, indent: str = "", later: Optional[str] = None) -> None:
        out.writelines(line + "\n" for line in fold(text, width, indent, later if later is not None else indent + "  "))

    for line in _kernel_lines(result.kernel):
        body = line.lstrip(" ")
        say(body, " " * (len(line) - len(body)))
    for w in result.warnings:
        say("warning: %s" % safe(w))
    shown = [f for f in result.findings if f.churn is not None and (unit is None or f.unit == unit)]
    if not shown:
        out.write("\nno loop%s found\n" % (" of %s" % safe(unit) if unit else ""))
    for f in shown:
        c = f.churn
        out.write("\n")
        say("%s: %s" % (safe(f.unit), f.kind.value))
        say("%s starts/h -> %s cgroup dirs/h, %s kernfs nodes/h, %s/day of kernfs_node_cache" % (
            _n(c.starts_per_hour), _n(c.cgroups_per_hour), _n(c.kernfs_nodes_per_hour), fmt_bytes(c.bytes_per_day)), "  ")
        for factor, basis in c.basis:
            say("%-17s %s" % (safe(factor), safe(basis)), "  ", " " * 20)


def write_json(result: ScanResult, out: IO[str], unit: Optional[str] = None) -> None:
    json_out.write({"schema": SCHEMA, "kernel": asdict(result.kernel) if result.kernel else None,
                    "warnings": result.warnings,
                    "loops": [{"id": f.id, "kind": f.kind.value, "unit": f.unit, "churn": f.churn.to_dict()}
                              for f in result.findings if f.churn is not None and (unit is None or f.unit == unit)]},
                   out)


def write_measurement(m, estimated, out: IO[str], as_json: bool) -> None:
    dirs = len(m.nodes.per_hierarchy) if m.nodes else None
    # NRestarts counts a restart loop's starts exactly; a timer unit never restarts: its starts are
    # the times its cgroup directory appeared.
    starts = m.restarts if m.restarts else m.appearances
    starts_h = starts * 3600.0 / m.seconds if m.seconds else None
    measured = {
        "seconds": round(m.seconds, 1), "restarts": m.restarts, "directories_appeared": m.appearances,
        "starts_per_hour": starts_h,
        "cgroups_per_hour": starts_h * dirs if starts_h is not None and dirs else None,
        "nodes_per_start": m.nodes.nodes if m.nodes else None,
        "directories": [list(x) for x in m.nodes.per_hierarchy] if m.nodes else [],
        "kernfs_active_objects": [m.before.kernfs_active_objects, m.after.kernfs_active_objects],
        "dying_descendants": [m.before.dying_descendants, m.after.dying_descendants],
    }
    if as_json:
        json_out.write({"schema": SCHEMA, "unit": m.unit, "measured": measured,
                        "estimated": estimated.to_dict() if estimated else None}, out)
        return
    out.write("%s watched for %.0f s\n" % (safe(m.unit), m.seconds))
    out.write("  measured : %s restarts, its cgroup seen created %d times -> %s starts/h, %s cgroup dirs/h, "
              "%s nodes a start\n" % (m.restarts, m.appearances, _n(starts_h), _n(measured["cgroups_per_hour"]),
                                     measured["nodes_per_start"]))
    if estimated:
        out.write("  estimated: %s starts/h, %s cgroup dirs/h (from the journal and %s)\n" % (
            _n(estimated.starts_per_hour), _n(estimated.cgroups_per_hour), safe(dict(estimated.basis)["nodes_per_start"])))
    out.write("  kernfs_node_cache active objects %s -> %s; dying cgroups %s -> %s\n" % (
        m.before.kernfs_active_objects, m.after.kernfs_active_objects, m.before.dying_descendants, m.after.dying_descendants))


def _n(x) -> str:
    if x is None:
        return "?"
    return "{:,.0f}".format(x) if x >= 10 else "%.2g" % x
