"""Read-only kernel figures beside which churn is shown: slab, kernfs_node_cache, cgroup layout,
dying cgroups, per-memcg slab caches, and the kernfs nodes of one unit's cgroup directories.

`root` is the prefix under which /proc and /sys are read: "/" for this machine, a tree in tests.
Everything that cannot be read is left None (or "unknown") and said in `KernelFacts.unreadable`
with the reason: nothing is guessed.  Nothing here writes anything or runs a command.

Each file or directory in a cgroup directory is one kernfs node, and the directory itself one more
(kernfs_node_cache holds one object per node).  A service start creates the unit's directory in
every hierarchy that gives it one and removes it at stop.
"""
import errno
import os
import re
from typing import Dict, List, Optional, Tuple

from unitaudit.util.names import is_unit_name
from unitaudit.model import KernelFacts, UnitCgroupNodes

CGROUP_ROOT = "/sys/fs/cgroup"
_SLABINFO_HEADER = re.compile(r"slabinfo - version: (\d+)\.(\d+)")
_MEMINFO_KEYS = ("Slab", "SReclaimable", "SUnreclaim")
# v1 super options that are not controllers (Documentation/admin-guide/cgroup-v1/cgroups.rst,
# kernel/cgroup/cgroup-v1.c cgroup1_parse_param); "name=X" is kept as the hierarchy's name
_V1_NOT_CONTROLLERS = frozenset(("rw", "ro", "none", "all", "noprefix", "xattr", "clone_children",
                                 "cpuset_v2_mode", "favordynmods", "nofavordynmods"))
# tried in this order when the unit has no directory and a sibling is counted instead: plain
# long-running services that every systemd machine has, with the default controllers
_PREFERRED_SIBLINGS = ("systemd-logind.service", "dbus.service", "cron.service",
                       "systemd-journald.service")
_ATTEMPTS = 3  # a looping unit's directory can vanish while it is counted: count again


def _reason(e: OSError) -> str:
    if isinstance(e, PermissionError):
        return "permission denied"
    if isinstance(e, FileNotFoundError):
        return "missing"
    return e.strerror or errno.errorcode.get(e.errno or 0, str(e))


def _unescape_mount(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo (fs/proc_namespace.c)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


class _Vanished(Exception):
    """A cgroup directory disappeared while it was being counted."""


class KernelSource:
    def __init__(self, root: str = "/"):
        self.root = root
        self._mounted: Optional[Tuple[Tuple[str, str], ...]] = None  # _hierarchies(), read once

    # -- paths --------------------------------------------------------------------------------
    def _path(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def _read(self, path: str, unreadable: List[str], what: str = "") -> Optional[str]:
        try:
            with open(self._path(path), encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError as e:
            unreadable.append("%s: %s%s" % (path, _reason(e), (": " + what) if what else ""))
            return None

    # -- facts --------------------------------------------------------------------------------
    def facts(self) -> KernelFacts:
        unreadable: List[str] = []
        text = self._read("/proc/sys/kernel/osrelease", unreadable, "kernel release unknown")
        release = text.strip() if text is not None else ""
        mem = self._meminfo(unreadable)
        slab = self._kernfs_slab(unreadable)
        cgroups = self._proc_cgroups(unreadable)
        layout, hierarchies = self._layout(unreadable, {c[0] for c in cgroups})
        return KernelFacts(
            release=release,
            slab_kb=mem.get("Slab"), sreclaimable_kb=mem.get("SReclaimable"),
            sunreclaim_kb=mem.get("SUnreclaim"),
            kernfs_active_objects=slab[0], kernfs_objects=slab[1], kernfs_object_size=slab[2],
            cgroup_layout=layout, hierarchies=hierarchies, cgroups=cgroups,
            dying_descendants=self._dying(hierarchies, unreadable),
            memcg_slab_caches=self._memcg_slab_caches(unreadable),
            unreadable=tuple(unreadable),
        )

    def _meminfo(self, unreadable: List[str]) -> Dict[str, int]:
        text = self._read("/proc/meminfo", unreadable, "Slab, SReclaimable, SUnreclaim unknown")
        out: Dict[str, int] = {}
        if text is None:
            return out
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            parts = rest.split()
            if key in _MEMINFO_KEYS and parts and parts[0].isdigit() and parts[1:] in ([], ["kB"]):
                out[key] = int(parts[0])
        for key in _MEMINFO_KEYS:
            if key not in out:
                unreadable.append("/proc/meminfo: no %s line" % key)
        return out

    def _kernfs_slab(self, unreadable: List[str]) -> Tuple[Optional[int], Optional[int], Optional[int]]:
        """(active_objs, num_objs, objsize) of kernfs_node_cache from /proc/slabinfo (mode 0400)."""
        none = (None, None, None)
        try:
            with open(self._path("/proc/slabinfo"), encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as e:
            extra = " (root only)" if isinstance(e, PermissionError) else ""
            unreadable.append("/proc/slabinfo: %s%s: kernfs_node_cache unknown" % (_reason(e), extra))
            return none
        lines = text.splitlines()
        head = _SLABINFO_HEADER.match(lines[0]) if lines else None
        if head is None or head.group(1) != "2":
            unreadable.append("/proc/slabinfo: not the slabinfo 2.x format (%r): kernfs_node_cache unknown"
                              % (lines[0][:60] if lines else ""))
            return none
        for line in lines[1:]:
            fields = line.split()
            if fields and fields[0] == "kernfs_node_cache":
                nums = fields[1:4]
                if len(nums) == 3 and all(n.isdigit() for n in nums):
                    return int(nums[0]), int(nums[1]), int(nums[2])
                unreadable.append("/proc/slabinfo: kernfs_node_cache line not understood: %r" % line[:120])
                return none
        # SLUB merges caches of the same size and flags; a merged cache has no line of its own
        alias = ""
        try:
            alias = os.readlink(self._path("/sys/kernel/slab/kernfs_node_cache"))
        except OSError:
            pass
        unreadable.append("/proc/slabinfo: no kernfs_node_cache line%s: kernfs_node_cache unknown"
                          % ((" (merged into %s)" % os.path.basename(alias)) if alias else ""))
        return none

    def _proc_cgroups(self, unreadable: List[str]) -> Tuple[Tuple[str, int, int, bool], ...]:
        text = self._read("/proc/cgroups", unreadable, "controllers and num_cgroups unknown")
        rows = []
        for line in (text or "").splitlines():
            if line.startswith("#") or not line.strip():
                continue
            f = line.split()
            if len(f) == 4 and all(x.isdigit() for x in f[1:]):
                rows.append((f[0], int(f[1]), int(f[2]), f[3] == "1"))
            else:
                unreadable.append("/proc/cgroups: line not understood: %r" % line[:80])
        return tuple(rows)

    def _layout(self, unreadable: List[str], subsystems) -> Tuple[str, Tuple[Tuple[str, str], ...]]:
        """The cgroup layout and (name, mount point) of each mounted hierarchy, from mountinfo.
        A hierarchy mounted twice (bind mounts) is listed once, at its first mount point."""
        text = self._read("/proc/self/mountinfo", unreadable, "cgroup layout unknown")
        if text is None:
            return "unknown", ()
        v2: List[str] = []
        v1: List[Tuple[str, str]] = []
        seen = set()
        for line in text.splitlines():
            fields = line.split()
            try:
                sep = fields.index("-", 6)
            except ValueError:
                continue
            if len(fields) < sep + 3:
                continue
            fstype, superopts = fields[sep + 1], fields[sep + 3] if len(fields) > sep + 3 else ""
            device, mount = fields[2], _unescape_mount(fields[4])
            if fstype not in ("cgroup", "cgroup2") or device in seen:
                continue
            seen.add(device)
            if fstype == "cgroup2":
                v2.append(mount)
                continue
            opts = superopts.split(",")
            names = [o for o in opts if o.startswith("name=")]
            if subsystems:
                ctrls = [o for o in opts if o in subsystems]
            else:  # /proc/cgroups unreadable: every option that is not a known non-controller
                ctrls = [o for o in opts if "=" not in o and o not in _V1_NOT_CONTROLLERS]
            v1.append((",".join(ctrls + names) or superopts, mount))
        hierarchies = tuple(v1) + tuple(("unified", m) for m in v2)
        if CGROUP_ROOT in v2:
            layout = "unified"
        elif v1 and v2:
            layout = "hybrid"
        elif v1:
            layout = "legacy"
        else:
            layout = "unknown"
            unreadable.append("/proc/self/mountinfo: %s: cgroup layout unknown"
                              % ("cgroup2 mounted only at %s, not %s" % (", ".join(v2), CGROUP_ROOT)
                                 if v2 else "no cgroup file system mounted"))
        return layout, hierarchies

    def _dying(self, hierarchies, unreadable: List[str]) -> Optional[int]:
        mounts = [m for name, m in hierarchies if name == "unified"]
        if not mounts:
            unreadable.append("nr_dying_descendants: no cgroup2 hierarchy mounted (cgroup v1 only:"
                              " compare /proc/cgroups num_cgroups with the directories that exist)")
            return None
        path = mounts[0].rstrip("/") + "/cgroup.stat"
        text = self._read(path, unreadable, "nr_dying_descendants unknown")
        if text is None:
            return None
        for line in text.splitlines():
            f = line.split()
            if len(f) == 2 and f[0] == "nr_dying_descendants" and f[1].isdigit():
                return int(f[1])
        unreadable.append("%s: no nr_dying_descendants line" % path)
        return None

    def _memcg_slab_caches(self, unreadable: List[str]) -> Optional[int]:
        """Entries of /sys/kernel/slab/*/cgroup/ (per-memcg slab caches, kernels < 5.9 with kmem
        accounting).  The aliases in /sys/kernel/slab are symbolic links to the merged caches'
        directories: only real directories are walked, so no cache is counted twice."""
        base = self._path("/sys/kernel/slab")
        try:
            names = os.listdir(base)
        except OSError as e:
            unreadable.append("/sys/kernel/slab: %s: per-memcg slab caches unknown" % _reason(e))
            return None
        total, found = 0, False
        for name in names:
            cache = os.path.join(base, name)
            if os.path.islink(cache):
                continue
            try:
                entries = os.listdir(os.path.join(cache, "cgroup"))
            except (FileNotFoundError, NotADirectoryError):
                continue
            except OSError as e:
                unreadable.append("/sys/kernel/slab/%s/cgroup: %s: per-memcg slab caches unknown"
                                  % (name, _reason(e)))
                return None
            found = True
            total += len(entries)
        if not found:
            unreadable.append("/sys/kernel/slab/*/cgroup: none (kernel >= 5.9 or no memcg kmem"
                              " accounting): no per-memcg slab caches to count")
            return None
        return total

    # -- one unit -----------------------------------------------------------------------------
    def unit_nodes(self, unit: str, slice_name: str = "system.slice") -> Optional[UnitCgroupNodes]:
        """kernfs nodes of `unit`'s cgroup directories now, in every hierarchy where it has one.
        When the unit has none (a looping unit between two starts), a sibling service in the same
        slice is counted and named in `measured_on`.  None when nothing can be counted."""
        if not is_unit_name(unit):
            raise ValueError("not a unit name: %r" % (unit,))
        if not is_unit_name(slice_name) or not slice_name.endswith(".slice"):
            raise ValueError("not a slice name: %r" % (slice_name,))
        hierarchies = self._hierarchies()
        if not hierarchies:
            return None
        slices = [(name, os.path.join(mount, slice_name)) for name, mount in hierarchies]
        own = self._count(unit, slices)
        if own:
            return UnitCgroupNodes(unit, unit, own)
        sibling = self._sibling(unit, slices)
        if sibling is None:
            return None
        return UnitCgroupNodes(unit, sibling[0], sibling[1])

    def _hierarchies(self) -> Tuple[Tuple[str, str], ...]:
        """The mounted hierarchies, read once per source: `churn --measure` counts a unit's
        directories 50 times a second, and mounts do not change under it."""
        if self._mounted is None:
            subsystems = {row[0] for row in self._proc_cgroups([])}  # names as facts() gives them
            self._mounted = self._layout([], subsystems)[1]
        return self._mounted

    def _count(self, unit: str, slices) -> Tuple[Tuple[str, str, int], ...]:
        """(hierarchy, directory, nodes) where `unit` has a directory; retried when a directory
        vanishes half-way (the unit stopped while it was counted); () when it has none."""
        for _ in range(_ATTEMPTS):
            out = []
            try:
                for name, slice_dir in slices:
                    d = os.path.join(slice_dir, unit)
                    if os.path.isdir(self._path(d)):
                        # On v1 a controller hierarchy has no directory for a unit that does not
                        # use that controller (or is read-only, as in an nspawn container): skipped.
                        out.append((name, d, self._nodes(self._path(d))))
            except _Vanished:
                continue
            return tuple(out)
        return ()

    @staticmethod
    def _nodes(path: str) -> int:
        """The directory itself + every entry in it.  Sub-directories (sub-cgroups: a delegated
        unit's own, systemd's ".control" for a delegated unit's control processes) are created per
        start too, so their entries count as well, recursively.  systemd 252 creates none for a
        plain service: measured in the lab, deepin-anything-monitor.service has 4 files in
        name=systemd and 18 in unified and no sub-directory."""
        try:
            n = 1
            with os.scandir(path) as it:
                for entry in it:
                    if entry.is_dir(follow_symlinks=False):
                        n += KernelSource._nodes(entry.path)
                    else:
                        n += 1
            return n
        except FileNotFoundError:
            raise _Vanished(path)

    def _sibling(self, unit: str, slices) -> Optional[Tuple[str, Tuple[Tuple[str, str, int], ...]]]:
        """A service in the same slice counted instead of `unit`.  Which hierarchies the unit would
        use is unknown while it has no directory: the sibling chosen is one with the most common set
        of hierarchies among the slice's services (the machine's default controllers for a service),
        preferring a plain long-running service (_PREFERRED_SIBLINGS), else the first by name."""
        where: Dict[str, frozenset] = {}
        for name, slice_dir in slices:
            try:
                entries = os.listdir(self._path(slice_dir))
            except OSError:
                continue
            for e in entries:
                if e.endswith(".service") and e != unit and is_unit_name(e) \
                        and os.path.isdir(self._path(os.path.join(slice_dir, e))):
                    where[e] = where.get(e, frozenset()) | {name}
        if not where:
            return None
        counts: Dict[frozenset, int] = {}
        for hs in where.values():
            counts[hs] = counts.get(hs, 0) + 1
        common = max(counts, key=lambda hs: (counts[hs], len(hs)))
        rank = {n: i for i, n in enumerate(_PREFERRED_SIBLINGS)}
        candidates = sorted((n for n, hs in where.items() if hs == common),
                            key=lambda n: (rank.get(n, len(rank)), n))
        for cand in candidates:
            got = self._count(cand, slices)
            if got:
                return cand, got
        return None
