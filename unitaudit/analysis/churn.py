"""What a loop costs the kernel: cgroup directories and kernfs nodes created (and removed) per
hour, kernfs_node_cache bytes per day.  Pure: the finding, the live kernel facts and the live
node count come in; every factor says where it came from.

  starts per hour      a restart loop: its restarts per hour (each restart is a start); a unit
                       failing on every timer run: its runs per hour; a D-Bus activation of a
                       unit that does not exist: 0 (no unit, no cgroup)
  cgroups per start    one directory per hierarchy the unit's cgroup lives in (measured, or by
                       layout from the table below)
  nodes per start      the entries of those directories, plus the directories (measured, or table)
  bytes per node       kernfs_node_cache object size from /proc/slabinfo, or the table
  + per-memcg slab     kernels before 5.9 with kmem accounting: each new memory cgroup gets its own
    caches             slab caches, each a sysfs directory of ~31 nodes (counted live)
"""
from typing import Optional, Tuple

from unitaudit.model import CauseKind, Churn, Finding, FindingKind, KernelFacts, UnitCgroupNodes

# Measured on a 6.18 kernel (shared/reference/systemd-facts.md): nodes per directory by hierarchy.
NODES_PER_DIRECTORY = {"unified": 18, "name=systemd": 4, "pids": 7, "memory": 31, "cpu,cpuacct": 23,
                       "blkio": 18, "cpuset": 16, "devices": 7, "freezer": 7}
# A service's directories per start, by layout, when they cannot be counted: systemd puts every
# service in the unified (or name=systemd) tree, and in pids for TasksAccounting (on by default).
TABLE = {
    "unified": (("unified",), "v2: one directory"),
    "hybrid": (("unified", "name=systemd", "pids"), "hybrid: unified + name=systemd + pids"),
    "legacy": (("name=systemd", "pids"), "v1: name=systemd + pids"),
}
OBJECT_SIZE_DEFAULT = 136  # bytes: kernfs_node_cache on 6.18 x86_64 (the seed's 4.19 arm64: 0.48K)


def starts_per_hour(finding: Finding) -> Tuple[float, str]:
    rate = finding.rate_per_hour or 0.0
    if finding.kind is FindingKind.ACTIVATION_LOOP or (
            finding.cause is not None and finding.cause.kind is CauseKind.MISSING_UNIT):
        return 0.0, "a D-Bus activation of a unit that does not exist creates no cgroup"
    if finding.kind is FindingKind.RESTART_LOOP:
        return rate, "journal: %s restarts per hour" % _num(rate)
    return rate, "journal: %s runs per hour" % _num(rate)


def estimate(finding: Finding, kernel: Optional[KernelFacts], nodes: Optional[UnitCgroupNodes]) -> Churn:
    starts, starts_basis = starts_per_hour(finding)
    basis = [("starts_per_hour", starts_basis)]
    if nodes is not None and nodes.per_hierarchy:
        dirs = len(nodes.per_hierarchy)
        per_start = nodes.nodes
        where = "the unit's own directories" if nodes.measured_on == nodes.unit else "its sibling %s" % nodes.measured_on
        basis.append(("cgroups_per_start", "measured: %d directories (%s) on %s" % (
            dirs, ", ".join(h for h, _d, _n in nodes.per_hierarchy), where)))
        basis.append(("nodes_per_start", "measured: %d kernfs nodes in %s" % (per_start, where)))
    else:
        layout = kernel.cgroup_layout if kernel is not None else "unknown"
        names, words = TABLE.get(layout, TABLE["hybrid"])
        dirs = len(names)
        per_start = sum(NODES_PER_DIRECTORY[n] + 1 for n in names)
        known = layout in TABLE
        basis.append(("cgroups_per_start", "table: %s%s" % (words, "" if known else " (layout unknown: assumed)")))
        basis.append(("nodes_per_start", "table: %d nodes (%s)" % (per_start, " + ".join(
            "%s %d" % (n, NODES_PER_DIRECTORY[n] + 1) for n in names))))
    extra = memcg_slab_nodes_per_start(kernel)
    if extra:
        nodes_per_cache, caches, memcgs = extra
        per_start += round(nodes_per_cache)
        basis.append(("memcg_slab_caches", "measured: %d per-memcg slab cache entries under /sys/kernel/slab/*/cgroup "
                      "across %d memory cgroups: about %.0f kernfs nodes more a start (kernel < 5.9, kmem accounting)"
                      % (caches, memcgs, nodes_per_cache)))
    size = kernel.kernfs_object_size if kernel is not None else None
    if size:
        basis.append(("bytes_per_node", "measured: kernfs_node_cache objects of %d bytes (/proc/slabinfo)" % size))
    else:
        size = OBJECT_SIZE_DEFAULT
        basis.append(("bytes_per_node", "table: %d bytes (6.18 x86_64; /proc/slabinfo not readable)" % size))
    nodes_per_hour = starts * per_start
    return Churn(
        starts_per_hour=round(starts, 2),
        cgroups_per_hour=round(starts * dirs, 2),
        kernfs_nodes_per_hour=round(nodes_per_hour, 1),
        bytes_per_day=round(nodes_per_hour * 24 * size) if starts else 0.0,
        basis=tuple(basis),
    )


SLAB_CACHE_NODES = 31  # a per-memcg slab cache's sysfs directory: ~30 attribute files and the directory


def memcg_slab_nodes_per_start(kernel: Optional[KernelFacts]) -> Optional[Tuple[float, int, int]]:
    """Kernels before 5.9 with memcg kmem accounting give every new memory cgroup its own copy of
    each slab cache it allocates from, each with a sysfs directory: (nodes a new memcg adds, the
    entries seen, the memory cgroups they belong to), or None when the kernel has none."""
    if kernel is None or not kernel.memcg_slab_caches:
        return None
    memcgs = next((n for name, _h, n, enabled in kernel.cgroups if name == "memory" and enabled), 0)
    if memcgs <= 0:
        return None
    return kernel.memcg_slab_caches / memcgs * SLAB_CACHE_NODES, kernel.memcg_slab_caches, memcgs


def _num(x: float) -> str:
    return "%.0f" % x if x >= 10 else "%.2g" % x
