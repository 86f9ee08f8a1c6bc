"""Files unitaudit writes and trusts: where the state directory is, atomic replacement, private
directories, the checks an output path and a root-owned input pass.

An atomic write puts a temporary file beside its target, fsyncs it, renames it over the target
and fsyncs the directory: readers see the old file or the new one, never half of it.  The
temporary name starts with TEMP_PREFIX and ends in "~", which logrotate's default tabooext
skips (so a leftover in /etc/logrotate.d is never read as a config); systemd reads only *.conf
from drop-in directories, and node_exporter only *.prom.
"""
import errno
import os
import secrets
import stat
from contextlib import contextmanager
from typing import Iterator, List, Optional, Tuple

from unitaudit.errors import RecipeError, StateError, UsageError

TEMP_PREFIX = ".unitaudit-tmp-"


def default_state_dir() -> str:
    """Where the state database, the backups and the locks live: $UNITAUDIT_STATE_DIR (tests, a
    relocated install), else /var/lib/unitaudit as root, else $XDG_STATE_HOME/unitaudit."""
    override = os.environ.get("UNITAUDIT_STATE_DIR", "")
    if os.path.isabs(override):
        return override
    if os.geteuid() == 0:
        return "/var/lib/unitaudit"
    base = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(base):  # the XDG spec: a relative value is invalid and ignored
        base = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(base, "unitaudit")


def make_private_dir(directory: str) -> None:
    """Created 0700; an existing one must be ours and writable by us alone, because undo
    restores what its database and backups say, as root, anywhere."""
    try:
        if not os.path.isdir(directory):
            os.makedirs(os.path.dirname(directory), exist_ok=True)
            try:
                os.mkdir(directory, 0o700)
            except FileExistsError:
                pass
        st = os.stat(directory)
    except OSError as e:
        raise StateError("state directory %s cannot be created or read: %s: %s" % (
            directory, e.strerror or e, "run as root" if os.geteuid() != 0 and e.errno in (errno.EACCES, errno.EPERM)
            else "make its parent a writable directory, or set UNITAUDIT_STATE_DIR to another")) from None
    if not stat.S_ISDIR(st.st_mode):
        raise StateError("state directory %s is not a directory: move it aside; unitaudit creates a new one" % directory)
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise StateError("state directory %s must be owned by uid %d and writable by it alone"
                         " (it is uid %d, mode %o): %s" % (
                             directory, os.geteuid(), st.st_uid, stat.S_IMODE(st.st_mode),
                             "run as root" if st.st_uid == 0 and os.geteuid() != 0
                             else "chown %d %s; chmod go-w %s" % (os.geteuid(), directory, directory)))


def write_new(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    fsync_dir(os.path.dirname(path))


def atomic_write(path: str, data: bytes, mode: int, owner: Optional[Tuple[int, int]] = None,
                 mtime_ns: Optional[int] = None, run: int = 0, before_rename=None) -> None:
    """Readers see the old file or the new one, never half of it.  The temporary name ends in
    "~" (not read by logrotate, systemd or node_exporter); `run` tags it for undo's clean-up.
    `before_rename` is called once the temporary file is complete, and may refuse by raising
    (write_output checks the path again there)."""
    with _replacing(path, run) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            write_all(fd, data)
            if owner is not None and owner != (os.geteuid(), os.getegid()):
                os.fchown(fd, *owner)
            os.fchmod(fd, mode)  # after fchown, which clears set-id bits
            if mtime_ns is not None:
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            os.fsync(fd)
        finally:
            os.close(fd)
        if before_rename is not None:
            before_rename()
        os.replace(tmp, path)


@contextmanager
def _replacing(path: str, run: int) -> Iterator[str]:
    """A temporary name beside `path` for the caller to create and rename over it: removed when
    anything fails before the rename, the directory fsync'd after it."""
    directory = os.path.dirname(path)
    tmp = temp_name(directory, run)
    try:
        yield tmp
    except BaseException:
        unlink_quietly(tmp)
        raise
    fsync_dir(directory)


def check_output_path(path: str, what: str) -> str:
    """The absolute path an output (`what`: "the Prometheus textfile") may be written to, or a
    UsageError naming the path and what is there.  Allowed: an existing regular file or a new
    name.  Refused: a symlink at the path (never written through: name the file itself), a
    device node, FIFO, socket or directory (`--prometheus /dev/null` as root must not replace
    the host's /dev/null with a regular file).  Symlinks among the parent directories are
    followed: the path is the admin's (a textfile directory relocated by a symlink is common),
    and the temporary file and the rename then land in the one directory they resolve to."""
    if not path or "\0" in path:
        raise UsageError("%s: not a file name: %r" % (what, path))
    if path.endswith("/"):
        raise UsageError("refusing to write %s to %s: the name ends in / (a directory)" % (what, path))
    path = os.path.abspath(path)
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return path  # a new name (a parent that is no directory fails at the write, naming it)
    if stat.S_ISREG(st.st_mode):
        return path
    if stat.S_ISLNK(st.st_mode):
        try:
            there = "a symlink to %s" % os.readlink(path)
        except OSError:
            there = "a symlink"
        raise UsageError("refusing to write %s to %s: it is %s; unitaudit does not write through a "
                         "symlink (name the file itself)" % (what, path, there))
    raise UsageError("refusing to write %s to %s: it is %s, not a regular file; unitaudit replaces only "
                     "a regular file or creates a new one" % (what, path, file_kind(st.st_mode)))


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
                        (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISLNK, "a symlink"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return words
    return "a file of unknown type %o" % stat.S_IFMT(mode)


def write_output(path: str, data: bytes, what: str, mode: int = 0o644) -> None:
    """The atomic write of every output unitaudit writes to a path it was given (--prometheus,
    [prometheus] path): check_output_path's rules, then a temporary file in the same directory,
    fsync, rename, fsync of the directory.  The path is checked again just before the rename,
    so a symlink, FIFO or device put there meanwhile is refused too (rename would replace the
    entry, never write into it, but the admin asked for a regular file).  UsageError for a
    refused path, OSError for a failed write."""
    path = check_output_path(path, what)
    atomic_write(path, data, mode, before_rename=lambda: check_output_path(path, what))


def atomic_symlink(path: str, target: str, owner: Optional[Tuple[int, int]], run: int) -> None:
    """A symlink to `target` at `path`, replacing what is there in one rename."""
    with _replacing(path, run) as tmp:
        os.symlink(target, tmp)
        if owner is not None and owner != (os.geteuid(), os.getegid()):
            os.lchown(tmp, *owner)
        os.replace(tmp, path)


def temp_name(directory: str, run: int) -> str:
    return os.path.join(directory, "%s%d-%s~" % (TEMP_PREFIX, run, secrets.token_hex(6)))


def remove_temp_leftovers(directory: str) -> List[str]:
    """Temp files of writes killed before their rename.  Under the lock no write is in flight,
    so every one there is a leftover."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in sorted(names):
        p = os.path.join(directory, name)
        if name.startswith(TEMP_PREFIX) and not stat.S_ISDIR(os.lstat(p).st_mode):
            os.unlink(p)
            removed.append(p)
    if removed:
        fsync_dir(directory)
    return removed


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(directory: str) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def refuse_unsafe(path: str, info: os.stat_result, what: str) -> None:
    if info.st_uid != 0:
        raise RecipeError("%s: refused: the %s is owned by uid %d, not root; unitaudit runs as root and would "
                          "act on what it says (chown root: it, or remove it)" % (path, what, info.st_uid))
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        who = "group and others" if info.st_mode & stat.S_IWGRP and info.st_mode & stat.S_IWOTH else (
            "its group" if info.st_mode & stat.S_IWGRP else "others")
        raise RecipeError("%s: refused: the %s is writable by %s (mode %04o); unitaudit runs as root and would "
                          "act on what it says (chmod go-w it)" % (path, what, who, stat.S_IMODE(info.st_mode)))
