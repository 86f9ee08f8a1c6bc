"""The probing interface over a bundle: the diagnosis asks a BundleProbe exactly what it asks the
SystemProbe of a live machine, and gets what the machine answered when the bundle was collected.

Files are read from the bundle's copy of them (the SystemProbe's own code, rooted in the copy).
What a copy cannot say is answered from what collect recorded (`Answers`): the metadata of each
path (owner, mode, link target: a unitaudit bundle stores no symbolic links), the package that
owns a file (dpkg-query -S), the file of a kernel module (modinfo), the kernel release and the
systemd version.  A question nobody recorded the answer to raises ProbeUnavailable: the
diagnosis then says it could not tell, never guesses.  Nothing here runs a command.
"""
import posixpath
import stat as stat_module
from dataclasses import dataclass, field, replace
from typing import Dict, Mapping, Optional, Tuple

from unitaudit.errors import BundleError, ProbeUnavailable
from unitaudit.model import FileInfo
from unitaudit.sources.bundle import codec
from unitaudit.sources.probe import SystemProbe
from unitaudit.util.names import is_module_name, is_safe_path


@dataclass(frozen=True)
class Answers:
    """What the probed machine answered, as collect recorded it (probe.json), or as a sos report
    shows it.  `complete_dirs`: directories copied whole, in which a missing file is missing."""

    stats: Mapping[Tuple[str, bool], FileInfo] = field(default_factory=dict)  # (path, follow) -> metadata
    links: Mapping[str, str] = field(default_factory=dict)  # symbolic link -> its target text
    packages: Mapping[str, Optional[str]] = field(default_factory=dict)  # path -> owning package, None: none
    modules: Mapping[Tuple[str, str], Optional[str]] = field(default_factory=dict)  # (module, release) -> file
    kernel_release: Optional[str] = None
    systemd_version: Optional[int] = None
    complete_dirs: Tuple[str, ...] = ()
    where: str = "the bundle"  # how messages name the evidence


class BundleProbe(SystemProbe):
    def __init__(self, copy_root: str, answers: Answers, links_on_disk: bool = False,
                 members: Optional[Mapping[str, object]] = None) -> None:
        """`copy_root`: the directory holding the copied files at their paths.  `links_on_disk`: a
        sos report keeps its symbolic links as links; a unitaudit bundle records them (answers.links).
        `members`: what an archive's headers said of each member (extract.MemberInfo, by its path
        under copy_root): the owners and modes, which an extraction never gives the files it writes."""
        super().__init__(copy_root)
        self.answers = answers
        self._links_on_disk = links_on_disk
        self._members = members or {}

    def _readlink(self, inside: str) -> str:
        if self._links_on_disk:
            return super()._readlink(inside)
        target = self.answers.links.get(inside)
        if target is None:
            raise OSError("not a link")
        return target

    def _unknown(self, what: str) -> ProbeUnavailable:
        return ProbeUnavailable("%s did not record %s" % (self.answers.where, what))

    def stat(self, path: str, follow: bool = False) -> FileInfo:
        recorded = self.answers.stats.get((path, follow))
        if recorded is not None:
            return recorded
        if not self._links_on_disk:
            resolved = self.resolve(path, follow_last=follow)
            recorded = self.answers.stats.get((resolved, False))
            if recorded is not None:
                return replace(recorded, path=path)
        info = super().stat(path, follow)
        if info.exists:
            if self._links_on_disk:
                return self._with_header(info, self.resolve(path, follow_last=follow), follow)
            raise self._unknown("the owner and mode of %s" % path)
        if self._in_complete_dir(path) or self._parent_absent(path):
            return info
        raise self._unknown("whether %s exists" % path)

    def _parent_absent(self, path: str) -> bool:
        """A directory recorded as missing: nothing is under it."""
        parent = posixpath.dirname(path)
        while parent not in ("/", ""):
            for follow in (False, True):
                known = self.answers.stats.get((parent, follow))
                if known is not None and not known.exists:
                    return True
            parent = posixpath.dirname(parent)
        return False

    def _with_header(self, info: FileInfo, resolved: str, follow: bool) -> FileInfo:
        """A sos report's file as its archive's header describes it (a directory given unpacked
        keeps its own modes and owners on disk)."""
        member = self._members.get(resolved.lstrip("/"))
        if member is None:
            return info
        kind = stat_module.S_IFDIR if info.is_dir else \
            stat_module.S_IFLNK if info.is_symlink and not follow else stat_module.S_IFREG
        mode = getattr(member, "mode") & 0o7777
        return replace(info, mode=mode, mode_text=stat_module.filemode(kind | mode), mode_octal="%04o" % mode,
                       uid=getattr(member, "uid"), gid=getattr(member, "gid"),
                       owner=getattr(member, "uname") or None, group=getattr(member, "gname") or None)

    def _in_complete_dir(self, path: str) -> bool:
        parent = posixpath.dirname(path)
        return any(parent == d or parent.startswith(d.rstrip("/") + "/") for d in self.answers.complete_dirs)

    def package_of(self, path: str) -> Optional[str]:
        if not is_safe_path(path):
            raise ValueError("refused path: %r" % (path,))
        for spelling in (path, self.resolve(path)):
            if spelling in self.answers.packages:
                return self.answers.packages[spelling]
        raise self._unknown("which package owns %s (dpkg-query -S)" % path)

    def kernel_release(self) -> str:
        if self.answers.kernel_release is None:
            raise self._unknown("the kernel release")
        return self.answers.kernel_release

    def systemd_version(self) -> Optional[int]:
        return self.answers.systemd_version

    def module_file(self, name: str, release: str) -> Optional[str]:
        if not is_module_name(name):
            raise ValueError("refused module name: %r" % (name,))
        key = (name, release)
        if key not in self.answers.modules:
            key = (name.replace("-", "_"), release)
        if key not in self.answers.modules:
            raise self._unknown("modinfo %s for kernel %s" % (name, release))
        return self.answers.modules[key]

    def _run(self, tool: str, *args: str):
        raise self._unknown("the answer of %s" % tool)  # a bundle runs nothing


def answers_from_json(data: Mapping, where: str) -> Answers:
    """probe.json of a unitaudit bundle (written by collect/recording.py), checked entry by entry."""

    def listed(key: str) -> list:
        value = data.get(key, [])
        if not isinstance(value, list):
            raise BundleError("probe.json: %s is not a list" % key)
        return value

    stats: Dict[Tuple[str, bool], FileInfo] = {}
    for item in listed("stats"):
        if not (isinstance(item, dict) and isinstance(item.get("follow"), bool)):
            raise BundleError("probe.json: a stats entry without follow")
        info = codec.file_info(item.get("info"))
        stats[(info.path, item["follow"])] = info
    links = {}
    for item in listed("links"):
        if not (isinstance(item, list) and len(item) == 2 and all(isinstance(x, str) for x in item)):
            raise BundleError("probe.json: a links entry is not [path, target]")
        links[item[0]] = item[1]
    packages: Dict[str, Optional[str]] = {}
    for item in listed("packages"):
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and isinstance(item[1], (str, type(None)))):
            raise BundleError("probe.json: a packages entry is not [path, package or null]")
        packages[item[0]] = item[1]
    modules: Dict[Tuple[str, str], Optional[str]] = {}
    for item in listed("modules"):
        if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str) and isinstance(item[1], str)
                and isinstance(item[2], (str, type(None)))):
            raise BundleError("probe.json: a modules entry is not [module, release, file or null]")
        modules[(item[0], item[1])] = item[2]
    release = data.get("kernel_release")
    version = data.get("systemd_version")
    if not isinstance(release, (str, type(None))) or not (version is None or type(version) is int):
        raise BundleError("probe.json: kernel_release or systemd_version of the wrong type")
    dirs = listed("complete_dirs")
    if not all(isinstance(d, str) and is_safe_path(d) for d in dirs):
        raise BundleError("probe.json: complete_dirs holds a path that is not absolute and normal")
    return Answers(stats, links, packages, modules, release, version, tuple(dirs), where)
