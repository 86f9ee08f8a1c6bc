"""A scan as the reporters see it: what each source read, the thresholds, the findings."""
import math
from dataclasses import dataclass, fields, replace
from typing import Callable, Dict, List, Optional, Tuple

from unitaudit.errors import UsageError
from unitaudit.model.findings import Finding
from unitaudit.model.system import KernelFacts, LiveState


# How far a long read has come, for a display on a terminal: (what is being read, done, total or
# None).  Sources call it every so often from their loops; it must cost next to nothing.
Progress = Callable[[str, int, Optional[int]], None]


@dataclass(frozen=True)
class SourceStats:
    kind: str  # journal, syslog, dbus
    path: str
    counts: Tuple[Tuple[str, int], ...]
    warnings: Tuple[str, ...] = ()
    # the first few lines that looked like evidence but could not be read (counted as `unparsed`)
    unparsed_lines: Tuple[str, ...] = ()
    # (host, machine id) of each machine a journal held (several in a journal-remote
    # directory): the host is the label the machine's findings carry
    machines: Tuple[Tuple[str, str], ...] = ()

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "path": self.path}
        out.update(dict(self.counts))
        out["warnings"] = list(self.warnings)
        out["unparsed_lines"] = list(self.unparsed_lines)
        if self.machines:
            out["machines"] = [{"host": h, "machine_id": m} for h, m in self.machines]
        return out


@dataclass(frozen=True)
class Thresholds:
    restart_burst: int = 5  # automatic restarts within restart_window that make a loop
    restart_window: float = 3600.0  # seconds
    # automatic restarts within 10 s, systemd's default StartLimitIntervalSec: a unit that dies as
    # soon as it starts.  Its start limit (5 starts in those 10 s) stops such a loop before it can
    # log restart_burst restarts, so the burst inside that interval has to be smaller.
    restart_quick_burst: int = 3
    # one "restart counter is at N" with N >= this proves a loop: N automatic restarts in a row, no
    # start by hand between them (that resets the counter), each after the unit failed again.  Their
    # times are unknown: the count is restart_quick_burst's, the fewest restarts called a loop.
    restart_counter: int = 3
    activation_burst: int = 5  # failed activations of one unit within activation_window
    activation_window: float = 3600.0  # seconds
    repeated_failures: int = 3  # failed runs in a row, no success between
    # the same event at a constant interval this many times in a row is a loop below the burst count
    periodic_repeats: int = 4

    @classmethod
    def parse(cls, items: List[str], base: Optional["Thresholds"] = None) -> "Thresholds":
        """`NAME=VALUE` pairs from the command line over `base` (the config file's); unknown
        names are usage errors."""
        known = {f.name: f.type for f in fields(cls)}
        values: Dict[str, object] = {}
        for item in items:
            name, sep, raw = item.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in known:
                raise UsageError(
                    "--threshold %r: expected NAME=VALUE with NAME one of %s" % (item, ", ".join(sorted(known)))
                )
            try:
                value = float(raw) if "window" in name else int(raw)
            except ValueError:
                raise UsageError("--threshold %s: %r is not a number" % (name, raw)) from None
            if not math.isfinite(value):  # float() reads nan, inf and 1e400: no window is that long
                raise UsageError("--threshold %s: %r is not a finite number" % (name, raw))
            if value <= 0:
                raise UsageError("--threshold %s: must be positive" % name)
            values[name] = value
        return replace(base, **values) if base is not None else cls(**values)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ScanResult:
    findings: Tuple[Finding, ...]
    sources: Tuple[SourceStats, ...]
    thresholds: Thresholds
    now: float
    since: Optional[float]
    until: Optional[float]
    evidence_start: Optional[float]
    evidence_end: Optional[float]
    live: Optional[LiveState] = None  # what D-Bus said (live scans)
    kernel: Optional[KernelFacts] = None  # the machine's slab and cgroup figures (live scans)
    notes: Tuple[str, ...] = ()  # warnings that belong to no source: a bus that could not be read

    @property
    def warnings(self) -> List[str]:
        out = [w for s in self.sources for w in s.warnings]
        if self.live is not None:
            out += list(self.live.warnings)
        return out + list(self.notes)
