"""One pass of a big journal read run in a child process, on another core.

A read of a journal directory is a handful of indexed passes, one after the other, on one core;
the desktops have two or more.  The bus daemon's pass, the longest (the bench: 0.4 s of 1.1 s),
is read by a forked child with its own sd_journal reader (a reader opened before the fork is
never used by the child: sd_journal refuses it, and the two would share file offsets), while
the parent checks the files for damage and reads PID 1's passes.  The child sends its sightings,
counts and warnings back through a pipe, pickled (our own frozen dataclasses, from our own child:
nothing from outside is unpickled), and the parent hands them over at the point where the pass
runs in the serial read, so the evidence, its order and the report are the same either way.

It only pays on a big read: forking, a second reader and the pickling cost a few milliseconds,
which an hourly run's one-hour read must not pay.  Whatever goes wrong in the child (fork
refused, an exception, a crash, a kill) makes `take` answer None, and the parent reads the pass
itself: evidence is never lost, and an error the child met is met again, and raised, there.
"""
import os
import pickle
import signal
import struct
from typing import Callable, Optional, Sequence, Tuple

# the read's estimated entries (per machine), at least, for a child to pay: an hour of a busy
# desktop's journal is a few thousand
MIN_ENTRIES = 100000
CHUNK = 1 << 20


def estimate_entries(files: Sequence[Tuple[str, bytes]], since: Optional[float], until: Optional[float]) -> int:
    """The entries of `files` (file, its header) between `since` and `until`: each file's
    n_entries, in the share of its time span the window covers (entries taken as evenly spread)."""
    total = 0
    start = int(since * 1e6) if since is not None else None
    end = int(until * 1e6) if until is not None else None
    for _f, header in files:
        if len(header) < 200:
            continue
        n = struct.unpack_from("<Q", header, 152)[0]
        head, tail = struct.unpack_from("<QQ", header, 184)  # head_entry_realtime, tail_entry_realtime
        low = max(head, start) if start is not None else head
        high = min(tail, end) if end is not None else tail
        if high < low:
            continue
        total += n if tail <= head else n * (high - low) // (tail - head)
    return total


class Child:
    """A forked child running one piece of work; `take` is its result, or None."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid = pid
        self.fd = fd

    def take(self) -> Optional[object]:
        """The child's result (waiting for it), or None when it failed in any way."""
        if self.pid == 0:
            return None
        chunks = []
        try:
            while True:
                chunk = os.read(self.fd, CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError:
            chunks = []
        status = self._reap(kill=False)
        if status != 0 or not chunks:
            return None
        try:
            got = pickle.loads(b"".join(chunks))
        except Exception:  # a result cut short: read the pass again
            return None
        return got[1] if got[0] == "ok" else None

    def stop(self) -> None:
        """Kill the child if it still runs, and reap it (no zombie); idempotent."""
        self._reap(kill=True)

    def _reap(self, kill: bool) -> Optional[int]:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        if self.pid == 0:
            return None
        pid, self.pid = self.pid, 0
        if kill:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            return os.waitpid(pid, 0)[1]
        except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler of an embedding program)
            return None


def start(work: Callable[[], object]) -> Optional[Child]:
    """`work()` run in a forked child; None when no child could be started (read serially)."""
    try:
        r, w = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(r)
        os.close(w)
        return None
    if pid == 0:
        _run_child(r, w, work)
    os.close(w)
    return Child(pid, r)


def _run_child(r: int, w: int, work: Callable[[], object]) -> None:
    """The child: run `work`, send its result, and leave without running the parent's exit code
    (atexit handlers, buffered output, open readers belong to the parent: os._exit flushes and
    closes nothing, so output buffered before the fork is written once, by the parent)."""
    code = 1
    try:
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            # Ctrl-C stops the child at once (the parent stops it too); an ignored SIGINT (a
            # background job) stays ignored, as in the parent
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.close(r)
        try:
            result = ("ok", work())
        except Exception as e:
            result = ("error", type(e).__name__)
        data = pickle.dumps(result, pickle.HIGHEST_PROTOCOL)
        view = memoryview(data)
        while view:
            view = view[os.write(w, view):]
        code = 0
    finally:
        os._exit(code)
