"""Which lines of a text log can be evidence, found by `grep -F` or by Python.

Only lines containing one of `HIT_STRINGS` can be evidence, so the file is
filtered by `grep -F` (C speed, running on another core) when grep exists, and
by Python otherwise; the same parser reads the lines either way.  Both read the
input through the bounded reader (bounded.py).  Lines come in blocks (lists):
one split per read, not one call per line.
"""
import fcntl
import gzip
import os
import re
import subprocess
import threading
import zlib
from typing import Iterable, Iterator, List, NamedTuple, Optional, Pattern, Tuple

from unitaudit.sources.textlog.bounded import MAX_LINE, LineCut, bounded_chunks, readinto_of
from unitaudit.sources.textlog.lines import PARSE_MAX
from unitaudit.sources.textlog.notes import ReadNotes
from unitaudit.sources.textlog.opening import LogInput

HIT_STRINGS = (  # fewer and shorter strings keep grep fast (measured: bench/README.md workload)
    "Activation via systemd failed",  # dbus-daemon
    "Activation request for",  # dbus-broker
    # "Scheduled restart job, restart counter is at N." (235+; 220-234 log it at debug level), also
    # cut at a terminal's width in a pasted `systemctl status` ("Scheduled restart job, restart co")
    "Scheduled restart",
    "scheduling restart",  # every hold-off / RestartSec / restart interval wording, 219-257
    "hold-off time",  # the same, cut before "scheduling" ("Service hold-off time over, sched")
    "Failed with result",  # also start-limit-hit (the result line exists since 220)
    "process exited",  # Control / Main / Mount process exited, either case
    "Failed at step",
    "Succeeded.",  # systemd 240-247 success
    "Deactivated successfully",  # systemd 248+ success
    "logrotate[",
    ": FATAL: ",  # kmod's own lines (modprobe, rmmod)
    ": ERROR: ",
    # Below, a short string stands for longer words (SHORT_FOR): grep -F runs as fast with these
    # eight as with none; with the long forms it took a third longer on the bench.
    "request repeated",  # the start limit: "start request ... for X" (219), "X: Start request ..." (220+)
    "failed state",  # 219's "Unit X entered failed state."
    "timed out. ",  # "start-pre operation timed out. Terminating."
    "ALERT exited",  # the cron.daily wrapper's "logrotate: ALERT exited abnormally with [1]"
    "/logrotate exited",  # "run-parts: /etc/cron.daily/logrotate exited with return code 1"
    # logrotate's output mailed by cron has no prefix: its errors by their own words
    "found error",  # follows every config error: "found error in file X, skipping"
    "parent directory has",  # skipping "X" because parent directory has insecure permissions
    "Ignoring ",  # "Ignoring X because it is writable by group or others"
    "without endscript",
)
# What each short hit string stands for: a line with the short one and not the long one matched by accident.
SHORT_FOR = (
    (b"request repeated", b"request repeated too"),
    (b"failed state", b"entered failed state"),
    (b"timed out. ", b"operation timed out. "),
    (b"ALERT exited", b"ALERT exited abnormally"),
    (b"found error", b"found error in "),
    (b"parent directory has", b"parent directory has insecure permissions"),
    (b"Ignoring ", b"error: Ignoring "),
)
REQUEST_STRING = "Activating via systemd"
REQUEST_SAMPLE = 1000  # request lines read per file: enough to name who keeps asking


def line_pattern(strings: Iterable[str], starts: Iterable[str] = ()) -> Pattern[bytes]:
    """In Python, what grep is asked for (_start_grep): a line holding any of `strings`, or
    starting with any of `starts`.  One grammar for the Python filter and the unread count."""
    return re.compile(b"|".join([re.escape(x.encode()) for x in strings]
                                + [b"^" + re.escape(x.encode()) for x in starts]))


_HIT_RE = line_pattern(HIT_STRINGS)
_EXACT_HIT_RE = line_pattern(s for s in HIT_STRINGS if s.encode() not in dict(SHORT_FOR))
_BRE_SPECIAL = re.compile(r"([.[*^$\\])")  # what a basic regular expression does not read as itself
_BLOCK_LINES = 4096  # lines the Python filter hands over at a time
# Bytes of grep's output read at a time.  Reading 1 MiB at a time cost the scan's thread 0.13 s
# on the bench syslog against 0.04 s (measured): a buffer that large is mapped anew for each read
# and every page of it faults, where one of 64 KiB is reused from the heap.
_READ_SIZE = 1 << 16


# Lines that are evidence by how they start: logrotate's output mailed by cron has no prefix, and
# "error: " anywhere else in a line is everybody's (kwin's "XCB error: " on every desktop).
LINE_STARTS = ("error: ",)


class Wanted(NamedTuple):
    """The lines one read wants: those containing any of `strings` or starting with any of
    `starts`, at most `max_count` (None: all)."""

    strings: Tuple[str, ...]
    max_count: Optional[int] = None
    starts: Tuple[str, ...] = ()

    @property
    def one_pass(self) -> bool:
        """Evidence and requests in one read (a stream, or gzip): the requests are sampled as they come."""
        return REQUEST_STRING in self.strings and len(self.strings) > 1


def is_noise(line: bytes) -> bool:
    """A line that matched a hit string only by accident, not evidence that failed to parse:
    logrotate's progress lines, systemctl's "Job for x.service failed.", or a short hit string
    without the words it stands for (SHORT_FOR)."""
    if b"logrotate[" in line and b"error: " not in line:
        return True
    if b"Job for " in line:
        return True
    if line.lstrip()[:3] in (b"-- ", b"\xe2\x96\x91"):  # journalctl -x's catalog text: "-- Subject:", "░░ Subject:"
        return True
    if _EXACT_HIT_RE.search(line):
        return False
    return any(short in line and meant not in line for short, meant in SHORT_FOR)


def matching_lines(log: LogInput, wanted: Wanted, use_grep: bool, cut: LineCut,
                   notes: ReadNotes) -> Iterator[List[bytes]]:
    """The lines of `log` that `wanted` names, in blocks."""
    filtered = _grep_lines if use_grep else _python_lines
    blocks = filtered(log, wanted, cut, notes)
    if wanted.one_pass:
        blocks = _sample_requests(blocks, notes)
    return blocks


def _sample_requests(blocks: Iterator[List[bytes]], notes: ReadNotes) -> Iterator[List[bytes]]:
    """One pass over a stream: the request lines past the first REQUEST_SAMPLE are dropped."""
    kept = 0
    needle = REQUEST_STRING.encode()
    for block in blocks:
        out = []
        for line in block:
            if needle in line and not _HIT_RE.search(line):
                if kept >= REQUEST_SAMPLE:
                    continue
                kept += 1
            out.append(line)
        notes.counts["requests_sampled"] = kept
        yield out


def _python_lines(log: LogInput, wanted: Wanted, cut: LineCut, notes: ReadNotes) -> Iterator[List[bytes]]:
    """Matching lines in blocks, when grep is not there."""
    strings = wanted.strings
    pattern = line_pattern(strings, wanted.starts)
    search = pattern.search
    found: List[bytes] = []
    total = 0
    f = None
    try:
        if log.stream_fd is not None:
            read = log.stream_readinto(notes)
            if read is None:
                return
        else:
            f = gzip.open(log.path, "rb") if log.gz else open(log.path, "rb", buffering=0)
            read = readinto_of(f.read1) if log.gz else f.readinto  # type: ignore[union-attr]
            log.reading = f.fileobj if log.gz else f  # type: ignore[union-attr]
        limit = wanted.max_count if wanted.max_count is not None else -1
        for piece in bounded_chunks(read, cut):
            lines = bytes(piece).split(b"\n")
            if not lines[-1]:
                lines.pop()
            for line in lines:
                if search(line):
                    found.append(line[:PARSE_MAX])  # all the parser reads of it
                    total += 1
                    if total == limit:
                        break
            if total == limit:
                break
            if len(found) >= _BLOCK_LINES:
                yield found
                found = []
    except (OSError, EOFError, zlib.error) as e:
        notes.damaged(e)
    finally:
        log.read_ended()
        if f is not None:
            f.close()
        notes.note_cut()
    yield found


def _grep_lines(log: LogInput, wanted: Wanted, cut: LineCut, notes: ReadNotes) -> Iterator[List[bytes]]:
    """Matching lines from grep, in blocks.  grep reads what a thread feeds it through
    `bounded_chunks`: no line it holds is longer than MAX_LINE."""
    opened = _grep_input(log, notes)
    if opened is None:
        return
    read, f, unzip = opened
    grep, wfd = _start_grep(wanted)
    feeder = threading.Thread(target=_feed, args=(read, cut, wfd, notes), name="unitaudit-grep-feed", daemon=True)
    feeder.start()
    assert grep.stdout is not None
    fd = grep.stdout.fileno()
    _widen_pipe(fd)
    try:
        tail = b""
        while True:
            chunk = os.read(fd, _READ_SIZE)  # whatever grep has written, without waiting for more
            if not chunk:
                break
            lines = (tail + chunk).split(b"\n")
            tail = lines.pop()[:MAX_LINE + 1]  # grep's lines are bounded already; never hold more
            yield lines
        if tail:
            yield [tail]
    finally:
        log.read_ended()
        _finish_grep(grep, unzip, feeder, f, notes)
        notes.note_cut()


def _env() -> dict:
    return {"LC_ALL": "C", "PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def _grep_input(log: LogInput, notes: ReadNotes):
    """(readinto, file to close, gzip process) of what grep is fed; None when a FIFO got no writer."""
    if log.stream_fd is not None:
        read = log.stream_readinto(notes)
        return None if read is None else (read, None, None)
    if log.gz:  # gzip on a core of its own, through a wide pipe
        unzip = subprocess.Popen(["gzip", "-dc", "--", log.path], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, env=_env())
        assert unzip.stdout is not None
        zfd = unzip.stdout.fileno()
        _widen_pipe(zfd)
        return (lambda b: os.readv(zfd, [b])), unzip.stdout, unzip
    f = open(log.path, "rb", buffering=0)
    log.reading = f
    return f.readinto, f, None


def _start_grep(wanted: Wanted) -> Tuple[subprocess.Popen, int]:
    """grep -F for `wanted`, reading a pipe: the process and the pipe's end to write to."""
    # -G (basic regular expressions), not -F, to anchor `starts`: as fast (measured on the bench
    # syslog: 0.33 s either way), the strings escaped to stand for themselves
    argv = (["grep", "-a", "-h", "-G"] + ["-e" + _BRE_SPECIAL.sub(r"\\\1", x) for x in wanted.strings]
            + ["-e^" + _BRE_SPECIAL.sub(r"\\\1", x) for x in wanted.starts])
    if wanted.max_count is not None:
        argv.append("--max-count=%d" % wanted.max_count)
    rfd, wfd = os.pipe()
    _widen_pipe(wfd)
    try:
        grep = subprocess.Popen(argv + ["-"], stdin=rfd, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=_env())
    except BaseException:
        os.close(wfd)
        raise
    finally:
        os.close(rfd)
    return grep, wfd


def _feed(read, cut: LineCut, wfd: int, notes: ReadNotes) -> None:
    """The feeding thread: the input through the bounded reader into grep's pipe."""
    try:
        for piece in bounded_chunks(read, cut):
            _write_all(wfd, piece)
    except BrokenPipeError:
        pass  # grep stopped at --max-count, or was stopped
    except (OSError, EOFError, zlib.error) as e:
        notes.damaged(e)
    finally:
        os.close(wfd)


def _finish_grep(grep: subprocess.Popen, unzip: Optional[subprocess.Popen], feeder: threading.Thread,
                 f, notes: ReadNotes) -> None:
    """Stop what still runs (a reader that stopped early) and say what failed."""
    assert grep.stdout is not None
    grep.stdout.close()
    for proc in (grep, unzip):
        if proc is not None and proc.poll() is None:
            proc.terminate()
    rc = grep.wait()
    feeder.join(5.0)
    if f is not None:
        f.close()
    err = grep.stderr.read().decode("utf-8", "replace").strip() if grep.stderr else ""
    if grep.stderr:
        grep.stderr.close()
    if rc > 1 and rc != -15:
        notes.warnings.append("%s: grep failed (%s)" % (notes.path, err.splitlines()[0] if err else rc))
    if unzip is not None and unzip.wait() not in (0, -15, -13):
        notes.warnings.append("%s: compressed data is damaged or truncated; lines before the damage were read"
                              % notes.path)


def _widen_pipe(fd: int) -> None:
    """Let grep run up to 1 MiB ahead of the parser instead of the default 64 KiB,
    so the two overlap on two cores instead of taking turns (Linux only)."""
    try:
        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except OSError:
        pass


def _write_all(fd: int, data) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
