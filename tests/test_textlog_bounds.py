"""Issue 13, text logs: memory bounded by a constant and time linear in the input
whatever it holds (over-long lines, no newline at all, gzip of zeros), FIFOs that
never hang at open, standard input as `--syslog -`."""
import gzip
import json
import os
import random
import subprocess
import sys
import threading
import time

import pytest

from builders import unbatch
from unitaudit.errors import SourceError
from unitaudit.sources.textlog import TextLogSource
from unitaudit.sources.textlog.bounded import MAX_LINE, LineCut, bounded_chunks
from unitaudit.sources.textlog.filters import REQUEST_SAMPLE
from unitaudit.sources.textlog import opening

GOOD = b"Jan  4 17:30:14 h systemd[1]: a.service: Scheduled restart job, restart counter is at 7.\n"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Runs one source in a process of its own: its peak RSS (VmHWM: the rusage figure of a
# new process starts at its parent's) and its children's (grep, gzip: at least the
# probe's own when they were started).
_PROBE = r"""
import json, resource, sys, time
from unitaudit.sources.textlog import TextLogSource
def hwm():
    with open("/proc/self/status") as f:
        return int(next(l for l in f if l.startswith("VmHWM")).split()[1]) / 1024
base = hwm()
t0 = time.perf_counter()
src = TextLogSource(sys.argv[1], use_grep=sys.argv[2] == "grep")
n = sum(len(s.times) + s.undated for s in src.events())
st = src.stats()
print(json.dumps({"events": n, "seconds": time.perf_counter() - t0, "counts": dict(st.counts),
                  "warnings": list(st.warnings), "base_mb": base, "rss_mb": hwm(),
                  "child_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def _probe(path, how):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path), how], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, timeout=120, check=True)
    return json.loads(out.stdout.decode())


BIG = 96 << 20  # well past MAX_LINE: the old reader held it whole, several times over


@pytest.mark.parametrize("how", ["grep", "python"])
def test_a_huge_line_with_a_match_is_cut_in_linear_time_and_bounded_memory(tmp_path, how):
    """Defects 1 and 5: one 96 MB line took the old reader ~5 s (quadratic) and
    hundreds of MB (grep and Python both held it whole)."""
    p = tmp_path / "long.log"
    with open(str(p), "wb") as f:  # written in pieces: the test's own memory stays small
        f.write(GOOD.rstrip(b"\n"))
        for _ in range(BIG >> 20):
            f.write(b" " * (1 << 20))
        f.write(b"\n" + GOOD.replace(b"7.", b"8."))
    r = _probe(p, how)
    assert r["seconds"] < 4.0, r  # linear: ~0.3 s here; the quadratic reader took ~5 s for 100 MB
    assert r["rss_mb"] < r["base_mb"] + 40, r  # the old reader: hundreds of MB
    assert r["child_rss_mb"] < r["rss_mb"] + 40, r  # grep, which held the line whole
    assert r["events"] == 2  # the match at the head of the long line is still read
    assert r["counts"]["lines_cut"] == 1
    assert any("1 line(s) longer than %d KiB" % (MAX_LINE >> 10) in w for w in r["warnings"])


@pytest.mark.parametrize("how", ["grep", "python"])
def test_gzip_of_zeros_without_a_newline_is_bounded_and_warned(tmp_path, how):
    """Defect 1: a gzip of zeros (no newline) peaked at 3.3 GB and exited 0 with no warning."""
    p = tmp_path / "z.gz"
    with gzip.open(str(p), "wb", compresslevel=1) as f:
        for _ in range(BIG >> 20):
            f.write(b"\0" * (1 << 20))
    r = _probe(p, how)
    assert r["rss_mb"] < r["base_mb"] + 40, r
    assert r["child_rss_mb"] < r["rss_mb"] + 40, r
    assert r["events"] == 0
    assert r["counts"]["lines_cut"] == 1
    assert any("longer than" in w for w in r["warnings"])


@pytest.mark.parametrize("how", ["grep", "python"])
def test_many_long_distinct_evidence_lines_are_kept_short(tmp_path, how):
    """Long lines under the cut that are all evidence: each one's head is kept, not the
    whole line (the old reader held 64 such 1 MiB lines several times over)."""
    p = tmp_path / "distinct.log"
    with open(str(p), "wb") as f:
        for i in range(64):
            f.write(b"Jan  4 17:30:%02d h systemd[1]: u%d.service: Failed with result 'exit-code'. " % (i, i)
                    + b"%02d " % i * (1 << 18) + b"\n")
    r = _probe(p, how)
    assert r["events"] == 64
    assert "lines_cut" not in r["counts"]
    assert r["rss_mb"] < r["base_mb"] + 40, r


def test_dev_zero_is_refused_at_once():
    """Defect 1: `--syslog /dev/zero` grew to 23 GB in 30 s."""
    with pytest.raises(SourceError, match="character device, not a log file"):
        TextLogSource("/dev/zero")


def _in_thread(fn, seconds=15.0):
    """fn() in a thread, so that a hang fails the test instead of stopping the run."""
    box = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as e:  # pragma: no cover - reported below
            box["error"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "hung"
    if "error" in box:
        raise box["error"]
    return box["value"]


@pytest.mark.parametrize("use_grep", [True, False])
def test_fifo_with_a_writer_is_read_once_whole(tmp_path, use_grep):
    """Defect 4: a FIFO is read, in one pass, request lines sampled as they come."""
    fifo = str(tmp_path / "log.fifo")
    os.mkfifo(fifo)
    request = b"Jan  4 17:30:14 h dbus-daemon[539]: [system] Activating via systemd: service name='x'\n"

    def write():
        time.sleep(0.2)
        with open(fifo, "wb") as f:
            f.write(GOOD * 3 + request * (REQUEST_SAMPLE + 50))

    writer = threading.Thread(target=write, daemon=True)
    writer.start()

    def scan():
        src = TextLogSource(fifo, use_grep=use_grep)
        return unbatch(src.events()), src.stats()

    evs, st = _in_thread(scan)
    writer.join(5)
    assert [e.message.fact("N_RESTARTS") for e in evs] == ["7"] * 3
    assert dict(st.counts)["requests_sampled"] == REQUEST_SAMPLE
    assert not st.warnings


def test_fifo_without_a_writer_does_not_hang(tmp_path, monkeypatch):
    """Defect 4: opening a FIFO nobody writes to hung forever; now it waits FIFO_WAIT
    seconds for a writer, then reads nothing and says so."""
    monkeypatch.setattr(opening, "FIFO_WAIT", 0.3)
    fifo = str(tmp_path / "idle.fifo")
    os.mkfifo(fifo)

    def scan():
        src = TextLogSource(fifo)
        return unbatch(src.events()), src.stats()

    evs, st = _in_thread(scan, seconds=10)
    assert evs == []
    assert any("no writer" in w for w in st.warnings)


@pytest.mark.parametrize("gz", [False, True])
def test_standard_input_as_dash(gz):
    """`--syslog -` reads standard input (a pipe: read once), plain or gzip."""
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = ("import sys; from unitaudit.sources.textlog import TextLogSource; s = TextLogSource('-');"
            "print(sum(len(x.times) + x.undated for x in s.events()), dict(s.stats().counts)['lines_cut'])")
    data = GOOD * 5 + b"x" * (MAX_LINE + 10) + b"\n" + GOOD
    out = subprocess.run([sys.executable, "-c", code], input=gzip.compress(data) if gz else data,
                         stdout=subprocess.PIPE, env=env, timeout=60, check=True)
    assert out.stdout.split() == [b"6", b"1"]


def _reference(data, limit):
    out, cut = [], 0
    lines = data.split(b"\n")
    last = lines.pop()
    for line in lines:
        if len(line) > limit:
            line, cut = line[:limit], cut + 1
        out.append(line + b"\n")
    if last:
        if len(last) > limit:
            last, cut = last[:limit], cut + 1
        out.append(last)
    return b"".join(out), cut


@pytest.mark.parametrize("seed", range(30))
def test_bounded_reader_cuts_exactly_the_long_lines(seed):
    rnd = random.Random(seed)
    limit = rnd.choice([1, 3, 10, 40])
    data = b"".join(b"a" * rnd.choice([0, 1, limit - 1, limit, limit + 1, 3 * limit, 50, 200]) + b"\n"
                    for _ in range(rnd.randint(0, 60)))
    if rnd.random() < 0.5:
        data += b"z" * rnd.randint(1, 3 * limit)  # no newline at the end
    pos = [0]

    def readinto(b):  # short reads of every size, as pipes give
        n = min(len(b), rnd.randint(1, 2 * limit + 5), len(data) - pos[0])
        b[:n] = data[pos[0]:pos[0] + n]
        pos[0] += n
        return n

    cut = LineCut()
    got = b"".join(bytes(p) for p in bounded_chunks(readinto, cut, limit))
    want, want_cut = _reference(data, limit)
    if not want.endswith(b"\n") and data and not data.endswith(b"\n") and len(data.rsplit(b"\n", 1)[-1]) > limit:
        # an over-long last line without newline is handed over cut, with the newline of a cut line
        want = want + b"\n"
    assert got == want
    assert cut.n == want_cut
