"""A bundle opened safely: a unitaudit bundle (`unitaudit collect`) or a sos report, as a tar
archive (plain, xz, gzip or bzip2, told apart by content) or as its unpacked top directory.

A bundle is untrusted.  Member names must be relative, without "..", under one top directory;
nothing is written through a symbolic link (each parent is lstat'ed) or outside `workdir`; files
are made 0600, directories 0700 (the archive's modes and owners are kept in MemberInfo); bytes,
members and the headers between two members (tarfile holds them in memory whole) are bounded.
The archive is decompressed here and read once, by tarfile in stream mode.  A unitaudit bundle
(manifest.json) holds files and directories only, each with the size and sha256 its manifest
says; a sos report (sos_commands/) keeps its symbolic links, unless a relative one leaves the top.
"""
import bz2
import gzip
import lzma
import os
import posixpath
import stat
import tarfile
import zlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

from unitaudit.errors import BundleError
from unitaudit.util.files import file_kind
from unitaudit.sources.bundle.manifest import CHUNK, READ_FLAGS, check_members, digest, hash_tree, identify, said, shown

MAX_TOTAL_BYTES = 4 << 30  # bytes of files extracted, all members together
MAX_MEMBERS = 200000
MAX_DEPTH = 100  # components of a member's path: shutil.rmtree recurses once per level (to 3.11)
MAX_HEADER_BYTES = 1 << 20  # read between two members: headers, padding (a path is at most 4 KiB)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_COMPRESSIONS = (  # magic, name, reader
    (b"\xfd7zXZ\x00", "xz", lzma.LZMAFile),
    (b"\x1f\x8b", "gzip", lambda raw: gzip.GzipFile(fileobj=raw, mode="rb")),
    (b"BZh", "bzip2", bz2.BZ2File),
)
_SPECIAL = {tarfile.CHRTYPE: "a character device", tarfile.BLKTYPE: "a block device", tarfile.FIFOTYPE: "a FIFO"}
_TRUNCATED = "truncated archive (the download or copy was cut short?)"


class MemberInfo(NamedTuple):
    """What the tar header said of a member: extraction as non-root loses owners and modes."""
    path: str  # relative to the top directory, "/"-separated: "root/etc/logrotate.d/x"
    kind: str  # "file" | "dir" | "symlink"
    mode: int  # permission bits with setuid, setgid and sticky
    uid: int
    gid: int
    uname: str
    gname: str
    link_target: str  # symlinks only, else ""
    size: int


@dataclass(frozen=True)
class OpenedBundle:
    top: str  # absolute path of the top directory: inside workdir, or the directory given
    kind: str  # "unitaudit" | "sos"
    manifest: Optional[dict]  # a unitaudit bundle's manifest.json; None for a sos report
    members: Mapping[str, MemberInfo]  # from the tar headers; empty when a directory was given
    source: str  # the path the user gave
    skipped: Tuple[Tuple[str, str], ...] = ()  # (member, why): devices and FIFOs of a sos report


def open_bundle(path: str, workdir: str) -> OpenedBundle:
    """The bundle at `path` (an archive, extracted into the empty directory `workdir`, or a top
    directory, checked in place), or BundleError saying in one line why it cannot be used."""
    where = said(path)
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            raw = os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC), "rb")
    except OSError as e:
        raise BundleError("%s: %s" % (where, _os_reason(e))) from None
    if stat.S_ISDIR(st.st_mode):
        top = os.path.abspath(path)
        kind, manifest = identify(top, where)
        if kind == "unitaudit":
            check_members(where, manifest, hash_tree(top, where))
        return OpenedBundle(top, kind, manifest, MappingProxyType({}), path)
    if not stat.S_ISREG(st.st_mode):
        raise BundleError("%s is %s, not a bundle (a tar archive or a directory)" % (where, file_kind(st.st_mode)))
    extraction = _Extraction(where, workdir)
    with raw:
        extraction.run(_decompressed(raw, where))
    kind, manifest = identify(extraction.top, where)
    if kind == "unitaudit":
        if extraction.odd:
            name, what = extraction.odd[0]
            raise BundleError("%s: member %s is %s: a unitaudit bundle holds only files and directories "
                              "(the bundle was altered or damaged)" % (where, shown(name), what))
        check_members(where, manifest, extraction.digests)
    return OpenedBundle(extraction.top, kind, manifest, MappingProxyType(extraction.members), path,
                        tuple(extraction.skipped))


def _os_reason(e: OSError) -> str:
    return "no such file or directory" if isinstance(e, FileNotFoundError) else \
        "permission denied (run as root, or copy the bundle somewhere readable)" if isinstance(e, PermissionError) \
        else "cannot read: %s" % said(e.strerror or str(e))


class _Metered:
    """The decompressed archive as tarfile reads it.  Between two members (`allowance` set) only
    so much may be read; a failure of the decompressor is worded here, where its kind is known."""

    def __init__(self, stream, compression: str, where: str) -> None:
        self.stream, self.compression, self.where = stream, compression, where
        self.allowance: Optional[int] = None

    def read(self, size: int = CHUNK) -> bytes:
        try:
            data = self.stream.read(size if size is not None and size >= 0 else CHUNK)
        except EOFError:
            raise BundleError("%s: %s" % (self.where, _TRUNCATED)) from None
        except (lzma.LZMAError, zlib.error, OSError) as e:
            what = "damaged %s data" % self.compression if self.compression else "cannot read"
            raise BundleError("%s: %s: %s" % (self.where, what, said(str(e)))) from None
        if self.allowance is not None:
            self.allowance -= len(data)
            if self.allowance < 0:
                raise BundleError("%s: a member's tar headers are larger than %d bytes (a damaged or "
                                  "hostile archive)" % (self.where, MAX_HEADER_BYTES))
        return data


def _decompressed(raw, where: str) -> _Metered:
    head = raw.read(8)
    raw.seek(0)
    for magic, name, reader in _COMPRESSIONS:
        if head.startswith(magic):
            return _Metered(reader(raw), name, where)
    return _Metered(raw, "", where)


def _header_class(ends: List[type]) -> type:
    class _Header(tarfile.TarInfo):
        """tarfile takes a missing or damaged header after the first for the end of the archive;
        this remembers why the last header read ended, so a cut archive is not taken as whole."""

        @classmethod
        def frombuf(cls, buf, encoding, errors):
            try:
                return super().frombuf(buf, encoding, errors)
            except tarfile.HeaderError as e:
                ends[:] = [type(e)]
                raise
    return _Header


class _Extraction:
    """One archive's members, checked and written under workdir/<top> as they stream past."""

    def __init__(self, where: str, workdir: str) -> None:
        self.where, self.workdir = where, workdir
        self.top_name: Optional[str] = None
        self.top = self.name = ""  # name: the member being extracted, as the archive names it
        self.members: Dict[str, MemberInfo] = {}
        self.digests: Dict[str, Tuple[int, str]] = {}  # regular files: (size, sha256)
        self.skipped: List[Tuple[str, str]] = []
        self.odd: List[Tuple[str, str]] = []  # links and special files: refused in a unitaudit bundle
        self.count = self.total = 0

    def run(self, metered: _Metered) -> None:
        ends: List[type] = []
        try:
            metered.allowance = MAX_HEADER_BYTES
            tar = tarfile.open(fileobj=metered, mode="r|", tarinfo=_header_class(ends))
            with tar:
                while tar.firstmember is not None or self.count:  # none at all: 3.7's next() fails
                    info = tar.next()
                    metered.allowance = None
                    if info is None:
                        break
                    tar.members = []  # stream mode keeps every header; nothing here looks back
                    unread = self._member(tar, info)
                    metered.allowance = MAX_HEADER_BYTES + unread
        except (tarfile.TarError, UnicodeError, ValueError, OverflowError) as e:
            text = said(str(e))
            raise BundleError("%s: %s" % (self.where, _TRUNCATED if "unexpected end of data" in text else
                                          "empty archive" if text == "empty file" and not self.count else
                                          "not a tar archive (plain, xz, gzip or bzip2): " + text if not self.count
                                          else "damaged archive after member %s: %s" % (shown(self.name), text)))
        if self.count == 0:
            raise BundleError("%s: empty archive (no members)" % self.where)
        if ends != [tarfile.EOFHeaderError]:  # a whole archive ends with zero blocks
            raise BundleError("%s: %s" % (self.where, _TRUNCATED if ends != [tarfile.InvalidHeaderError] else
                                          "damaged archive: a header after member %s is not a tar header"
                                          % shown(self.name)))

    def _refuse(self, why: str) -> BundleError:
        return BundleError("%s: member %s %s" % (self.where, shown(self.name), why))

    def _member(self, tar: tarfile.TarFile, info: tarfile.TarInfo) -> int:
        """Extracts one member; returns how many bytes of its data were left unread."""
        self.count += 1
        self.name = info.name
        if self.count > MAX_MEMBERS:
            raise BundleError("%s: more than %d members (an archive bomb?)" % (self.where, MAX_MEMBERS))
        if info.size < 0:
            raise self._refuse("has a negative size")
        try:
            rel = self._relative(info.name, info.isdir())
            if rel is None or rel == "":  # "./", or the top directory itself
                if rel == "" and not info.isdir():
                    raise self._refuse("is not under a top directory")
                return 0
            if rel in self.members:
                raise self._refuse("appears twice in the archive")
            kind, size = self._write(tar, info, rel)
        except FileExistsError:
            raise self._refuse("clashes with an earlier member of the same name") from None
        except OSError as e:
            raise self._refuse("cannot be extracted into %s: %s" % (self.workdir, e.strerror or e)) from None
        if kind is None:
            return info.size if info.type not in tarfile.SUPPORTED_TYPES else 0
        self.members[rel] = MemberInfo(rel, kind, info.mode & 0o7777, info.uid, info.gid, info.uname or "",
                                       info.gname or "", info.linkname if kind == "symlink" else "", size)
        return 0

    def _write(self, tar: tarfile.TarFile, info: tarfile.TarInfo, rel: str) -> Tuple[Optional[str], int]:
        if info.isdir():
            path = self._host_path(rel)
            if not os.path.isdir(path) or os.path.islink(path):  # one made as a parent earlier is fine
                os.mkdir(path, 0o700)  # FileExistsError when a file or link is there
            return "dir", 0
        if info.isreg():
            return "file", self._file(rel, tar.extractfile(info), info.size)
        if info.issym():
            self._symlink(rel, info.linkname)
            return "symlink", 0
        if info.islnk():
            return "file", self._hardlink(rel, info.linkname)
        why = _SPECIAL.get(info.type, "of unknown tar type %r" % info.type)
        self.skipped.append((rel, why))
        self.odd.append((info.name, why))
        self._count(info.size if info.type not in tarfile.SUPPORTED_TYPES else 0)
        return None, 0

    def _relative(self, name: str, is_dir: bool) -> Optional[str]:
        """The member's path under the top directory; None for the archive's own "./"."""
        for bad, why in (("\0" in name, "has a NUL character in its name"), (name.startswith("/"), "has an absolute "
                         "name"), (".." in name.split("/"), 'has a ".." component')):
            if bad:
                raise self._refuse(why)
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if not parts:
            if is_dir and name:
                return None
            raise self._refuse("has an empty name")
        if len(parts) > MAX_DEPTH:
            raise self._refuse("is more than %d directories deep" % MAX_DEPTH)
        if self.top_name is None:
            self.top_name = parts[0]
            self.top = os.path.join(os.path.abspath(self.workdir), parts[0])
            try:
                os.mkdir(self.top, 0o700)
            except OSError as e:
                raise BundleError("%s: cannot extract into %s: %s" % (self.where, self.workdir, e.strerror or e)) from None
        elif parts[0] != self.top_name:
            raise self._refuse("is not under the top directory %s: a bundle has one" % shown(self.top_name))
        return "/".join(parts[1:])

    def _host_path(self, rel: str) -> str:
        """Where `rel` goes on disk, its parent directories made (0700): each must be a real
        directory made by this extraction, never a link an earlier member left there."""
        parts = rel.split("/")
        path = self.top
        for depth, name in enumerate(parts[:-1], 1):
            path += "/" + name
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.mkdir(path, 0o700)
                continue
            if not stat.S_ISDIR(st.st_mode):
                raise self._refuse("would be written through %s %s" % (
                    "the symbolic link" if stat.S_ISLNK(st.st_mode) else "the file",
                    shown(self.top_name + "/" + "/".join(parts[:depth]))))
        return path + "/" + parts[-1]

    def _count(self, size: int) -> None:
        self.total += size
        if self.total > MAX_TOTAL_BYTES:
            raise BundleError("%s: more than %d bytes of files (an archive bomb?)" % (self.where, MAX_TOTAL_BYTES))

    def _file(self, rel: str, source, size: int) -> int:
        """Copies `source` in chunks, hashing it on the way (the manifest check reads nothing again)."""
        self._count(size)
        fd = os.open(self._host_path(rel), _CREATE_FLAGS, 0o600)
        try:
            self.digests[rel] = digest(source, fd)
        finally:
            os.close(fd)
        return self.digests[rel][0]

    def _symlink(self, rel: str, target: str) -> None:
        """Kept as the same text: an absolute target means a path inside the bundle's root."""
        if not target or "\0" in target:
            raise self._refuse("is a symbolic link with an empty or NUL-holding target")
        if not target.startswith("/"):
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(rel), target))
            if resolved == ".." or resolved.startswith("../"):
                raise self._refuse("is a symbolic link to %s, which escapes the top directory" % shown(target))
        os.symlink(target, self._host_path(rel))
        self.odd.append((self.name, "a symbolic link"))

    def _hardlink(self, rel: str, target: str) -> int:
        """A copy of an earlier regular member (sos reports; refused in a unitaudit bundle)."""
        parts = target.split("/")
        source = "/".join(parts[1:]) if parts[0] == self.top_name and ".." not in parts else None
        if source not in self.digests:
            raise self._refuse("is a hard link to %s, which is not an earlier file of the archive" % shown(target))
        with os.fdopen(os.open(self.top + "/" + source, READ_FLAGS), "rb") as f:
            size = self._file(rel, f, self.digests[source][0])
        self.odd.append((self.name, "a hard link"))
        return size
