"""What collect's own scan asks of this machine, answered live and written down, so that a bundle
answers the same questions with the same answers (sources/bundle/probe.py reads them back).

RecordingProbe is the live SystemProbe noting every answer it gives; RecordingBus the D-Bus
source noting the unit file lists and links it read; RecordingKernel the kernel source noting
each unit's cgroup nodes.  Recording changes nothing of what is asked or how: collect is as
read-only as scan.
"""
from typing import Dict, List, Optional, Sequence, Set, Tuple

from unitaudit.errors import ProbeUnavailable
from unitaudit.model import FileInfo, UnitCgroupNodes, UnitFile
from unitaudit.sources.bundle import codec
from unitaudit.sources.dbus import DBusSource
from unitaudit.sources.kernel import KernelSource
from unitaudit.sources.probe import SystemProbe, owner_from_dpkg


class RecordingProbe(SystemProbe):
    def __init__(self, root: str = "/") -> None:
        super().__init__(root)
        self.stats: Dict[Tuple[str, bool], FileInfo] = {}
        self.links: Dict[str, str] = {}
        self.packages: Dict[str, Optional[str]] = {}
        self.modules: Dict[Tuple[str, str], Optional[str]] = {}
        self.files_read: Set[str] = set()  # paths read or listed: the bundle copies them
        self.dirs_listed: Set[str] = set()

    def _readlink(self, inside: str) -> str:
        target = super()._readlink(inside)
        self.links[inside] = target
        return target

    def stat(self, path: str, follow: bool = False) -> FileInfo:
        info = super().stat(path, follow)
        self.stats[(path, follow)] = info
        return info

    def read_text(self, path: str, limit: int = 1 << 20) -> Optional[str]:
        text = super().read_text(path, limit)
        if text is not None:
            self.files_read.add(self.resolve(path))
        return text

    def list_dir(self, path: str) -> Tuple[str, ...]:
        names = super().list_dir(path)
        if names:
            self.dirs_listed.add(self.resolve(path))
        return names

    def package_of(self, path: str) -> Optional[str]:
        package = super().package_of(path)  # ProbeUnavailable is not an answer: not recorded
        self.packages[path] = package
        return package

    def packages_of(self, paths: Sequence[str]) -> None:
        """Owners of many files, recorded: one dpkg-query for all of them (one call reads dpkg's
        whole database; a call per file would take minutes on a desktop's few hundred units)."""
        todo = sorted({p for p in paths if p not in self.packages})
        if not todo:
            return
        admindir = self._prefix + "/var/lib/dpkg"
        for start in range(0, len(todo), 200):  # argv stays far below ARG_MAX
            batch = todo[start:start + 200]
            spellings = {s: p for p in batch for s in self._usr_spellings(p)}
            try:
                result = self._run("dpkg-query", "--admindir=" + admindir, "-S", *sorted(spellings))
            except ProbeUnavailable:
                return
            if result.returncode not in (0, 1):
                return
            owners = _owners(result.stdout)
            for spelling, path in sorted(spellings.items()):
                if owners.get(spelling):
                    self.packages[path] = owners[spelling]
                else:
                    self.packages.setdefault(path, None)

    def module_file(self, name: str, release: str) -> Optional[str]:
        found = super().module_file(name, release)
        self.modules[(name, release)] = found
        return found

    def answers(self) -> dict:
        """probe.json's content (read by sources/bundle/probe.answers_from_json)."""
        return {
            "stats": [{"follow": follow, "info": codec.to_json(info)}
                      for (_p, follow), info in sorted(self.stats.items())],
            "links": sorted([p, t] for p, t in self.links.items()),
            "packages": sorted([p, pkg] for p, pkg in self.packages.items()),
            "modules": sorted([m, r, f] for (m, r), f in self.modules.items()),
            "kernel_release": self.kernel_release(),
            "systemd_version": self.systemd_version(),
        }


def _owners(output: str) -> Dict[str, str]:
    """dpkg-query -S output: path -> its first owner."""
    out: Dict[str, str] = {}
    for line in output.splitlines():
        _owners_text, sep, path = line.partition(": ")
        if sep and path not in out:
            owner = owner_from_dpkg(line, path)
            if owner:
                out[path] = owner
    return out


class RecordingBus(DBusSource):
    """The D-Bus source, keeping the unit files and links a diagnosis read."""

    def __init__(self, address: Optional[str] = None) -> None:
        super().__init__(address)
        self.unit_files: Tuple[UnitFile, ...] = ()
        self.links: Dict[str, Optional[Tuple[str, ...]]] = {}

    def read_unit_files(self) -> Tuple[UnitFile, ...]:
        self.unit_files = super().read_unit_files()
        return self.unit_files

    def unit_file_links(self, names: Sequence[str], runtime: bool = False) -> Dict[str, Optional[Tuple[str, ...]]]:
        got = super().unit_file_links(names, runtime)
        self.links.update(got)
        return got


class RecordingKernel(KernelSource):
    def __init__(self, root: str = "/") -> None:
        super().__init__(root)
        self.nodes: Dict[str, Optional[UnitCgroupNodes]] = {}
        self.read_facts: List = []

    def facts(self):
        facts = super().facts()
        self.read_facts.append(facts)
        return facts

    def unit_nodes(self, unit: str, slice_name: str = "system.slice"):
        got = super().unit_nodes(unit, slice_name)
        self.nodes[unit] = got
        return got
