"""Read-only facts about an installed system: files, owners, packages, kernel modules.

The only code the diagnosis uses to look at the machine.  `root` is the system's
root as seen from here: "/" for this machine, or a container's or copied tree's
root.  Symbolic links are resolved inside `root` (an absolute link target means
ROOT/target), so a tree copied off another machine is never read through into
this one.

Names and paths may come from log text, which anybody can write: every method
validates what it is given (unit, module and package grammars, absolute
normalized paths without "..") before it becomes a path or a command argument,
and raises ValueError otherwise.  Commands run from an argv list, never a shell.
Nothing here writes anything.
"""
import errno
import os
import re
import shutil
import stat as stat_module
import subprocess
from typing import Dict, List, Optional, Tuple

from unitaudit.model import DkmsProvider, FileInfo
from unitaudit.errors import ProbeUnavailable
from unitaudit.util.names import is_kernel_release, is_module_name, is_package_name, is_safe_path

# dpkg-query -S reads these as a glob pattern, not a path
_GLOB_CHARS = frozenset("*?[]\\")
_TOOL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_TOOL_ENV = {"PATH": _TOOL_PATH, "LC_ALL": "C"}
_TOOL_TIMEOUT = 30
_MAX_LINK_HOPS = 40  # as the kernel's MAXSYMLINKS
# top-level directories that usr-merge turns into links to /usr/...
_MERGED_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


def _require(ok: bool, what: str, value: object) -> None:
    if not ok:
        raise ValueError("refused %s: %r" % (what, value))


class SystemProbe:
    def __init__(self, root: str = "/") -> None:
        root = os.path.abspath(root)
        self.root = root
        self._prefix = "" if root == "/" else root.rstrip("/")
        self._names: Dict[str, Dict[int, str]] = {}

    # -- paths ---------------------------------------------------------------------------------
    def resolve(self, path: str, follow_last: bool = True) -> str:
        """The path with its symbolic links resolved inside root (like chroot + realpath)."""
        _require(is_safe_path(path), "path", path)
        pending = [p for p in path.split("/") if p]
        done: List[str] = []
        hops = 0
        while pending:
            name = pending.pop(0)
            if name == ".":
                continue
            if name == "..":  # only from link targets: never above root
                if done:
                    done.pop()
                continue
            if not pending and not follow_last:
                done.append(name)
                break
            try:
                target = self._readlink("/" + "/".join(done + [name]))
            except OSError:  # not a link, or missing: later components will be missing too
                done.append(name)
                continue
            hops += 1
            if hops > _MAX_LINK_HOPS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links", path)
            if target.startswith("/"):
                done = []
            pending = [p for p in target.split("/") if p] + pending
        return "/" + "/".join(done)

    def _readlink(self, inside: str) -> str:
        """What the link at `inside` (a resolved path inside root) says; OSError when it is none.
        A bundle answers from what it recorded (sources/bundle/probe.py)."""
        return os.readlink(self._prefix + inside)

    # -- files ---------------------------------------------------------------------------------
    def machine_id(self) -> Optional[str]:
        """The machine's id (/etc/machine-id), None when it has none that reads as one (a bundle
        does not carry it)."""
        text = (self.read_text("/etc/machine-id", 4096) or "").strip()
        return text if len(text) == 32 and all(c in "0123456789abcdef" for c in text) else None

    def read_text(self, path: str, limit: int = 1 << 20) -> Optional[str]:
        """A regular file's text (at most `limit` bytes), None when it is missing or not a file."""
        data = self.read_bytes(path, limit)
        return data.decode("utf-8", "replace") if data is not None else None

    def read_bytes(self, path: str, limit: int = 1 << 20) -> Optional[bytes]:
        """A regular file's bytes (at most `limit`), None when it is missing or not a file."""
        try:
            host = self._prefix + self.resolve(path)
            # O_NONBLOCK: never hang on a FIFO; O_NOFOLLOW: the path was resolved above
            fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            if not stat_module.S_ISREG(os.fstat(fd).st_mode):
                return None
            chunks = []
            left = limit
            while left > 0:
                chunk = os.read(fd, min(left, 1 << 16))
                if not chunk:
                    break
                chunks.append(chunk)
                left -= len(chunk)
            return b"".join(chunks)
        except OSError:
            return None
        finally:
            os.close(fd)

    def list_dir(self, path: str) -> Tuple[str, ...]:
        try:
            return tuple(sorted(os.listdir(self._prefix + self.resolve(path))))
        except OSError:
            return ()

    def stat(self, path: str, follow: bool = False) -> FileInfo:
        """What `ls -ld` says about a path; with follow, about what its links lead to."""
        try:
            own = os.lstat(self._prefix + self.resolve(path, follow_last=False))
        except OSError:
            return FileInfo(path, exists=False)
        is_link = stat_module.S_ISLNK(own.st_mode)
        target = None
        st = own
        if is_link:
            try:
                target = self._readlink(self.resolve(path, follow_last=False))
                if follow:
                    st = os.lstat(self._prefix + self.resolve(path))
            except OSError:
                return FileInfo(path, exists=False, is_symlink=True, link_target=target)
        mode = stat_module.S_IMODE(st.st_mode)
        return FileInfo(
            path=path, exists=True, is_dir=stat_module.S_ISDIR(st.st_mode), is_symlink=is_link,
            link_target=target, mode=mode, mode_text=stat_module.filemode(st.st_mode),
            mode_octal="%04o" % mode, uid=st.st_uid, gid=st.st_gid,
            owner=self._name_of("passwd", st.st_uid), group=self._name_of("group", st.st_gid),
        )

    def _name_of(self, database: str, number: int) -> Optional[str]:
        # The probed system's own files: a container's users are not this machine's.
        if database not in self._names:
            names: Dict[int, str] = {}
            for line in (self.read_text("/etc/" + database) or "").splitlines():
                fields = line.split(":")
                if len(fields) >= 3 and fields[2].isdigit():
                    names.setdefault(int(fields[2]), fields[0])
            self._names[database] = names
        return self._names[database].get(number)

    # -- packages ------------------------------------------------------------------------------
    def package_of(self, path: str) -> Optional[str]:
        """The Debian package that installed a path; None when no package did.

        Raises ProbeUnavailable when there is no dpkg database or dpkg-query."""
        _require(is_safe_path(path) and not _GLOB_CHARS.intersection(path), "path", path)
        admindir = self._prefix + "/var/lib/dpkg"
        if not os.path.isfile(admindir + "/status"):
            raise ProbeUnavailable("no dpkg database at %s" % admindir)
        for spelling in self._usr_spellings(path):
            result = self._run("dpkg-query", "--admindir=" + admindir, "-S", spelling)
            if result.returncode == 0:
                package = owner_from_dpkg(result.stdout, spelling)
                if package:
                    return package
            elif result.returncode != 1:  # 1: "no path found matching pattern"
                raise ProbeUnavailable("dpkg-query: " + result.stderr.strip())
        return None

    def _usr_spellings(self, path: str) -> Tuple[str, ...]:
        """dpkg knows a file by the path its package shipped; on a usr-merged system
        /lib/x and /usr/lib/x are one file under two names."""
        top = path.split("/")[1]
        merged = os.path.islink(self._prefix + "/" + _MERGED_DIRS[2])
        if not merged:
            return (path,)
        if top in _MERGED_DIRS:
            return (path, "/usr" + path)
        parts = path.split("/")
        if top == "usr" and len(parts) > 3 and parts[2] in _MERGED_DIRS:
            return (path, path[len("/usr"):])
        return (path,)

    # -- kernel modules ------------------------------------------------------------------------
    def kernel_release(self) -> str:
        """The running kernel of the probed system.  A tree that records its own (a bundle's
        proc/sys/kernel/osrelease) says so; a container shares this machine's kernel."""
        if self._prefix:
            recorded = (self.read_text("/proc/sys/kernel/osrelease", limit=256) or "").strip()
            if is_kernel_release(recorded):
                return recorded
        return os.uname().release

    def systemd_version(self) -> Optional[int]:
        """systemd's version in the probed tree, from the name of its shared library
        (libsystemd-shared-252.so): no program run, and it works on a copied tree too."""
        multiarch = ["/usr/lib/%s/systemd" % t for t in self.list_dir("/usr/lib") if "-linux-" in t]  # Debian 12+
        for d in ["/lib/systemd", "/usr/lib/systemd"] + multiarch:
            for name in self.list_dir(d):
                m = re.fullmatch(r"libsystemd-shared-(\d+)(?:[.~-][\w.~-]*)?\.so", name)
                if m:
                    return int(m.group(1))
        return None

    def module_file(self, name: str, release: str) -> Optional[str]:
        """The module's file for that kernel (a path inside root), "(builtin)" when it is built
        into the kernel, None when the kernel has no such module."""
        _require(is_module_name(name), "module name", name)
        _require(is_kernel_release(release), "kernel release", release)
        result = self._run("modinfo", "-b", self.root, "-k", release, "-F", "filename", name)
        if result.returncode != 0:
            # kmod: "modinfo: ERROR: Module X not found." also when /lib/modules/RELEASE is absent
            if "not found" in result.stderr:
                return None
            raise ProbeUnavailable("modinfo: " + result.stderr.strip())
        first = (result.stdout.splitlines() or [""])[0].strip()
        if first in ("", "(builtin)"):  # kmod prints "(builtin)"; some versions print nothing
            return "(builtin)"
        if self._prefix and first.startswith(self._prefix + "/"):
            return first[len(self._prefix):]
        return first

    def dkms_providers(self, module: str) -> Tuple[DkmsProvider, ...]:
        """The dkms source trees (/usr/src/*/dkms.conf) that build `module`."""
        _require(is_module_name(module), "module name", module)
        wanted = module.replace("-", "_")  # the kernel treats - and _ in module names alike
        found = []
        for entry in self.list_dir("/usr/src"):
            source_dir = "/usr/src/" + entry
            if not is_safe_path(source_dir):
                continue
            conf = _parse_dkms_conf(self.read_text(source_dir + "/dkms.conf", limit=1 << 16) or "")
            if not conf:
                continue
            if wanted not in [m.replace("-", "_") for m in conf["modules"]]:
                continue
            try:
                package = self.package_of(source_dir + "/dkms.conf")
            except (ProbeUnavailable, ValueError):
                package = None
            found.append(DkmsProvider(source_dir, package, conf["name"], conf["version"]))
        return tuple(found)

    # -- commands ------------------------------------------------------------------------------
    def _run(self, tool: str, *args: str) -> "subprocess.CompletedProcess[str]":
        exe = shutil.which(tool, path=_TOOL_PATH)
        if exe is None:
            raise ProbeUnavailable("%s is not installed" % tool)
        try:
            return subprocess.run([exe, *args], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace", env=_TOOL_ENV, timeout=_TOOL_TIMEOUT, check=False)
        except (OSError, subprocess.SubprocessError) as e:
            raise ProbeUnavailable("%s: %s" % (tool, e)) from e


def owner_from_dpkg(output: str, path: str) -> Optional[str]:
    """"pkg1, pkg2:arch: /path" -> pkg1.  Diversion lines name no owner."""
    for line in output.splitlines():
        if line.startswith("diversion by "):
            continue
        owners, sep, listed = line.partition(": ")
        if sep and listed == path:
            for owner in owners.split(","):
                name = owner.strip().split(":")[0]
                if is_package_name(name):
                    return name
    return None


_DKMS_ASSIGNMENT = re.compile(r"""\s*([A-Z_]+)(?:\[\d+\])?=(?:"([^"]*)"|'([^']*)'|(\S*))""")


def _parse_dkms_conf(text: str) -> Optional[dict]:
    """PACKAGE_NAME, PACKAGE_VERSION and the modules a dkms.conf builds.  dkms.conf is a shell
    fragment: only plain assignments are read, never evaluated."""
    values: Dict[str, List[str]] = {}
    for line in text.splitlines():
        m = _DKMS_ASSIGNMENT.match(line)
        if m:
            value = next(v for v in m.groups()[1:] if v is not None)
            values.setdefault(m.group(1), []).append(value)
    name = (values.get("PACKAGE_NAME") or [""])[0]
    if not name:
        return None
    version = (values.get("PACKAGE_VERSION") or [""])[0]

    def expand(value: str) -> str:
        for var, val in (("PACKAGE_NAME", name), ("PACKAGE_VERSION", version)):
            value = value.replace("${%s}" % var, val).replace("$" + var, val)
        return value

    # without BUILT_MODULE_NAME dkms builds one module named after the package
    modules = [expand(v) for v in values.get("BUILT_MODULE_NAME", [])] or [name]
    return {"name": name, "version": version, "modules": modules}
