"""The pid lock: an exclusive flock on a file that names its holder."""
import fcntl
import os
from contextlib import contextmanager
from typing import Iterator

from unitaudit.errors import LockBusy


@contextmanager
def pid_lock(path: str, holder_is: str, wait: bool = False) -> Iterator[int]:
    """An exclusive flock on `path`, which says the holder's pid while held; LockBusy names it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            raise LockBusy("another %s is running (pid %s)" % (holder_is, holder if holder.isdigit() else "unknown")) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % os.getpid(), 0)
        try:
            yield fd
        finally:
            os.ftruncate(fd, 0)  # the pid of a holder that is gone would only mislead
    finally:
        os.close(fd)  # closing the descriptor releases the flock
