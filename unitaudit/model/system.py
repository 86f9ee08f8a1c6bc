"""What the service manager, the kernel and an installed system say, live or from a root."""
import stat as stat_module
from dataclasses import dataclass
from typing import Dict, NamedTuple, Optional, Tuple


@dataclass(frozen=True)
class ExecStatus:
    """The last run of one Exec*= command as the service manager saw it (D-Bus `a(sasbttttuii)`)."""

    path: str
    argv: Tuple[str, ...]
    ignore_errors: bool
    started: Optional[float]  # seconds since the epoch; None when it never ran
    exited: Optional[float]
    pid: int
    code: int  # si_code: 1 exited, 2 killed, 3 dumped; 0 when it has not exited
    status: int  # exit status, or the signal when killed

    @property
    def failed(self) -> bool:
        return self.exited is not None and self.code != 0 and (self.code != 1 or self.status != 0)


@dataclass(frozen=True)
class UnitState:
    """A unit as the service manager reports it: live over D-Bus, or as a pasted
    `systemctl status` block shows it (`seen_in`; fields the paste does not show stay empty)."""

    name: str
    load_state: str = ""
    active_state: str = ""
    sub_state: str = ""
    n_restarts: Optional[int] = None  # None: not a service, or systemd < 235
    unit_file_state: str = ""
    fragment_path: str = ""
    names: Tuple[str, ...] = ()  # the unit's own name and the aliases it is loaded under
    description: str = ""
    result: str = ""  # Service Result: success, exit-code, start-limit-hit, ...
    load_error: Tuple[str, str] = ("", "")  # (D-Bus error name, message), empty when loaded
    restart: str = ""  # Restart= setting
    restart_usec: Optional[int] = None
    need_daemon_reload: bool = False
    exec_start_pre: Tuple[ExecStatus, ...] = ()
    exec_stop_post: Tuple[ExecStatus, ...] = ()
    seen_in: str = "live"  # "live" (PID 1 over D-Bus: trusted) or "systemctl status" (pasted text: untrusted)

    @property
    def trusted(self) -> bool:
        return self.seen_in == "live"


@dataclass(frozen=True)
class UnitFile:
    """One entry of ListUnitFiles: an installed unit file and its enablement state."""

    path: str
    state: str  # enabled, disabled, static, masked, alias, indirect, generated, ...

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class LiveState:
    """What the service manager said over D-Bus during one scan."""

    address: str  # the bus address used
    units: Tuple[UnitState, ...]
    unit_files: Tuple[UnitFile, ...]
    seconds: float  # how long reading it took
    warnings: Tuple[str, ...] = ()

    def by_name(self) -> Dict[str, UnitState]:
        out: Dict[str, UnitState] = {}
        for u in self.units:
            out[u.name] = u
        return out


@dataclass(frozen=True)
class KernelFacts:
    """The machine's live kernel figures beside which churn is shown.  None: could not be read
    (and `unreadable` says why): never guessed."""

    release: str
    slab_kb: Optional[int] = None  # /proc/meminfo Slab
    sreclaimable_kb: Optional[int] = None
    sunreclaim_kb: Optional[int] = None
    kernfs_active_objects: Optional[int] = None  # /proc/slabinfo kernfs_node_cache (root only)
    kernfs_objects: Optional[int] = None
    kernfs_object_size: Optional[int] = None  # bytes
    cgroup_layout: str = "unknown"  # unified | hybrid | legacy | unknown
    hierarchies: Tuple[Tuple[str, str], ...] = ()  # (name: "unified", "name=systemd", "memory", ..., mount point)
    cgroups: Tuple[Tuple[str, int, int, bool], ...] = ()  # /proc/cgroups: subsystem, hierarchy, num_cgroups, enabled
    dying_descendants: Optional[int] = None  # cgroup v2 root cgroup.stat nr_dying_descendants
    memcg_slab_caches: Optional[int] = None  # /sys/kernel/slab/*/cgroup/* entries (kernels < 5.9 with kmem accounting)
    unreadable: Tuple[str, ...] = ()


@dataclass(frozen=True)
class UnitCgroupNodes:
    """kernfs nodes of one unit's cgroup directories, counted live: each entry in a cgroup directory
    is one kernfs node, and the directory itself one more."""

    unit: str
    measured_on: str  # the unit itself, or the sibling unit counted while the unit had no directory
    per_hierarchy: Tuple[Tuple[str, str, int], ...]  # (hierarchy name, directory, nodes)

    @property
    def nodes(self) -> int:
        return sum(n for _h, _d, n in self.per_hierarchy)


@dataclass(frozen=True)
class Measurement:
    unit: str
    seconds: float
    restarts: Optional[int]  # NRestarts after - before (None: not reported)
    appearances: int  # times the unit's own cgroup directories were seen to appear: starts of a timer unit too
    nodes: Optional[UnitCgroupNodes]  # the most nodes seen in the unit's own directories
    before: KernelFacts
    after: KernelFacts


@dataclass(frozen=True)
class FileInfo:
    path: str  # as asked, inside the probed system
    exists: bool
    is_dir: bool = False
    is_symlink: bool = False  # the path itself is a symbolic link
    link_target: Optional[str] = None  # what the link says, unresolved
    mode: int = 0  # permission bits (with setuid/setgid/sticky)
    mode_text: str = ""  # as ls prints it: "drwxrwxrwx"
    mode_octal: str = ""  # "0777"
    uid: Optional[int] = None
    gid: Optional[int] = None
    owner: Optional[str] = None  # from the probed system's /etc/passwd, None when not listed
    group: Optional[str] = None  # from its /etc/group

    @property
    def world_writable(self) -> bool:
        return bool(self.mode & stat_module.S_IWOTH)

    @property
    def group_writable(self) -> bool:
        return bool(self.mode & stat_module.S_IWGRP)


class DkmsProvider(NamedTuple):
    """A dkms source tree under /usr/src that builds a module."""

    source_dir: str
    package: Optional[str]  # the package owning its dkms.conf, None when none does (or unknown)
    dkms_name: str  # PACKAGE_NAME
    dkms_version: str  # PACKAGE_VERSION
