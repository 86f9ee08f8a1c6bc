"""What the tests build their cases from: where the test data lives, events and findings from text
logs, real journal files from entries, and entries back from journal exports.  Imported as
`from builders import ...` (pyproject.toml's `pythonpath` lists tests/, [tool.pytest.ini_options])."""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

from unitaudit.analysis.detectors import run_all
from unitaudit.analysis.evidence import Evidence, fold
from unitaudit.model import Event, Finding, Sightings, Thresholds
from unitaudit.sources.textlog import TextLogSource
from unitaudit.sources.textlog.lines import LineParser

# -- where the test data lives -------------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "examples"


def fixture(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)


def example(*parts: str) -> Path:
    p = EXAMPLES.joinpath(*parts)
    if not p.exists():
        raise AssertionError("missing recorded example %s (python -m examples.record_lab records it)" % p)
    return p


# -- events, evidence and findings from text logs -----------------------------------------------
def text_events(path, use_grep: Optional[bool] = None, **kw) -> List[Event]:
    """Every sighting as an Event, in time order (sources hand them over in batches)."""
    return unbatch(TextLogSource(str(path), use_grep=use_grep, **kw).events())


def unbatch(items) -> List[Event]:
    out: List[Event] = []
    for item in items:
        if isinstance(item, Sightings):
            out.extend(_sighted(item))
        else:
            out.append(item)
    out.sort(key=lambda e: (e.time is None, e.time or 0.0))
    return out


def _sighted(item: Sightings) -> List[Event]:
    """One Event per time a batch of sightings counted, its raw sample where one was kept."""
    raw = {e.time: e for e in item.samples}
    out = [raw.get(t) or Event(t, item.message, None, None) for t in item.times]
    undated_samples = [e for e in item.samples if e.time is None]
    out.extend(Event(None, item.message, e.pid, e.raw) for e in undated_samples)
    out.extend(Event(None, item.message, None, None) for _ in range(item.undated - len(undated_samples)))
    return out


def text_evidence(*paths) -> Evidence:
    items: list = []
    for p in paths:
        items.extend(TextLogSource(str(p)).events())
    return fold(items)


def parse_lines(lines, reference: float = 0.0) -> List[Event]:
    parser = LineParser(reference or time.time())
    out = []
    for line in lines:
        ev = parser.parse(line.encode() if isinstance(line, str) else line)
        if ev is not None:
            out.append(ev)
    return out


def findings(evidence: Evidence, th: Thresholds = Thresholds(), units=None, now: float = 0.0) -> List[Finding]:
    return run_all(evidence, units or {}, now or (evidence.end or time.time()), th)


def by_kind(found: List[Finding], kind: str) -> List[Finding]:
    return [f for f in found if f.kind.value == kind]


# -- real journal files ---------------------------------------------------------------------------
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"


def write_journal(entries, path) -> str:
    """A real journal file from entries (dicts of field -> str), via systemd-journal-remote.

    Used to replay captured `journalctl -o json` entries, or recorded entries with
    one trusted field changed, through the real journal reader."""
    if not os.path.exists(JOURNAL_REMOTE):
        raise AssertionError("systemd-journal-remote is missing: `make setup` installs it")
    export = bytearray()
    for e in entries:
        for k, v in e.items():
            if k == "__CURSOR":
                continue
            if isinstance(v, list):  # journalctl -o json prints a non-UTF-8 value as a byte array
                v = bytes(v)
            v = v.encode() if isinstance(v, str) else v
            if b"\n" in v:
                export += k.encode() + b"\n" + len(v).to_bytes(8, "little") + v + b"\n"
            else:
                export += k.encode() + b"=" + v + b"\n"
        export += b"\n"
    path = str(path)
    subprocess.run([JOURNAL_REMOTE, "-o", path, "-"], input=bytes(export), check=True, capture_output=True)
    return path


def json_pretty_entries(text: str):
    """Entries from `journalctl -o json-pretty` output (objects one after another)."""
    dec = json.JSONDecoder()
    i, out = 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        obj, i = dec.raw_decode(text, i)
        out.append(obj)


def export_entries(path):
    """Entries of a journal export file (`journalctl -o export`), fields as bytes."""
    data = open(path, "rb").read()
    entries, cur, i = [], {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if not line:
            if cur:
                entries.append(cur)
            cur, i = {}, nl + 1
            continue
        if b"=" in line:
            k, v = line.split(b"=", 1)
            cur[k.decode()] = v
            i = nl + 1
        else:  # binary-safe form: name, newline, 64-bit little-endian size, data, newline
            size = int.from_bytes(data[nl + 1:nl + 9], "little")
            cur[line.decode()] = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
    if cur:
        entries.append(cur)
    return entries


# What changes between two reads of a running loop a moment apart: when, how often, how fast.
TIMING_FIELDS = frozenset(("count", "rate_per_hour", "first_seen", "last_seen", "period_seconds", "evidence",
                           "summary", "facts", "churn"))


def stable_findings(doc: dict) -> dict:
    """A scan document's findings by id, without their timing fields (the cause's count and
    summary, which quote counts, too): what two scans of one machine a moment apart share."""
    out = {}
    for f in doc["findings"]:
        kept = {k: v for k, v in f.items() if k not in TIMING_FIELDS}
        if kept.get("cause"):
            kept["cause"] = {k: v for k, v in kept["cause"].items() if k not in ("count", "summary")}
        out[f["id"]] = kept
    return out


def loop_of(finding: dict) -> tuple:
    """(kind, cause kind, diagnosis verdict) of a JSON finding: what two live reads a moment apart
    must agree on, whatever a looping unit's state was at each."""
    return (finding["kind"], (finding.get("cause") or {}).get("kind"), (finding.get("diagnosis") or {}).get("verdict"))


def report_fields(text: str, label: str) -> List[str]:
    """The values of `label` (Cause, Diagnosis, Fix...) in a scan report's finding blocks, each
    one's folded lines joined again (with a space; a command's ` \\` continuations removed)."""
    out: List[str] = []
    current: Optional[List[str]] = None
    for line in text.splitlines():
        line = re.sub("\x1b\\[[0-9;]*m", "", line)  # rich's colours, when forced
        head, sep, value = line.partition(": ")
        if sep and head.strip() and len(head) <= 11 and head == head.rstrip() and not head.strip().startswith("-"):
            current = [value] if head.strip() == label else None
            if current is not None:
                out.append("")
        elif current is not None and line.strip() and (line.startswith(" " * 13) or current[-1].endswith(" \\")):
            # folded under the value; or a command's next line, which a long path moves left
            current.append(line.strip())
        else:
            current = None
        if current is not None:
            out[-1] = " ".join(part[:-2] if part.endswith(" \\") else part for part in current)
    return out


# Runs a command and writes its exit status to a file: tmux's pane_dead_status stays empty for
# good when tmux misses its child's exit (seen with tmux 3.3a under load: the child a zombie).
_STATUS_WRAPPER = "import subprocess, sys; s = subprocess.call(sys.argv[2:]); open(sys.argv[1], 'w').write(str(s))"


def in_terminal(tmp_path, columns: int, argv: List[str], cwd: Optional[str] = None, env_extra=None,
                escapes: bool = False) -> str:
    """`argv` in a tmux window `columns` wide, its screen once it has exited with status 1
    (findings), wrapped rows joined (`capture-pane -J`): a joined line longer than the window is
    one the program printed too wide.  `escapes`: with the colours' escape sequences (`-e`)."""
    conf, status = tmp_path / "tmux.conf", tmp_path / "status"
    conf.write_text("set -g remain-on-exit on\nset -g history-limit 5000\n")
    tmux = ["tmux", "-f", str(conf), "-S", str(tmp_path / "tmux.socket")]
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color")
    for name in ("COLUMNS", "LINES", "NO_COLOR", "TMUX"):
        env.pop(name, None)
    env.update(env_extra or {})
    subprocess.run(tmux + ["new-session", "-d", "-x", str(columns), "-y", "60", "--", sys.executable, "-c",
                           _STATUS_WRAPPER, str(status)] + list(argv), cwd=cwd or str(ROOT), env=env, check=True)
    try:
        deadline = time.time() + 120
        while True:  # exited, and the terminal has read all it wrote (its end of the pty closed)
            dead = subprocess.run(tmux + ["display-message", "-p", "#{pane_dead}"], capture_output=True, text=True,
                                  check=True).stdout.strip()
            if dead == "1" and status.exists() and status.read_text():
                break
            assert time.time() < deadline, "%s did not finish in its terminal within 120 s" % argv[0]
            time.sleep(0.1)
        screen = subprocess.run(tmux + ["capture-pane", "-p", "-J", "-S", "-", "-E", "-"] + (["-e"] if escapes else []),
                                capture_output=True, text=True, check=True).stdout
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
    assert status.read_text() == "1", "exit status %s, 1 (findings) expected:\n%s" % (status.read_text(), screen)
    lines = screen.rstrip("\n").splitlines()
    while lines and (not lines[-1].strip() or lines[-1].startswith("Pane is dead")):
        lines.pop()  # tmux's own line for a pane whose program has exited, and the empty rows
    return "\n".join(line.rstrip() for line in lines) + "\n"


NOBODY = 65534


def unitaudit_as_nobody(*args: str) -> Optional[subprocess.CompletedProcess]:
    """`unitaudit ARGS` run by nobody (util-linux's setpriv), for a test of what an ordinary user
    meets that root never does (a mode root ignores); None when this Python cannot run as nobody
    (pyenv's under /root, 0700).  Not root: run as is."""
    become: List[str] = []
    if os.geteuid() == 0:
        become = ["setpriv", "--reuid=%d" % NOBODY, "--regid=%d" % NOBODY, "--clear-groups"]
        if subprocess.run(become + [sys.executable, "-c", ""], capture_output=True, cwd="/").returncode:
            return None
    env = dict(os.environ, PYTHONPATH=str(ROOT), NO_COLOR="1")
    return subprocess.run(become + [sys.executable, "-m", "unitaudit", *args], capture_output=True, text=True,
                          env=env, cwd="/")
