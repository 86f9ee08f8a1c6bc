"""`churn --measure`: watch one unit for a while and count what its starts really create."""
import time
from typing import Optional

from unitaudit.model import Measurement, UnitCgroupNodes


def measure(unit: str, seconds: float, bus, kernel, poll: float = 0.02) -> Measurement:
    """NRestarts over D-Bus at both ends; the unit's cgroup directories counted every `poll` s
    while they exist (a failing ExecStartPre leaves them only milliseconds); the kernel's
    figures before and after."""
    def restarts() -> Optional[int]:
        state = bus.read().by_name().get(unit)
        return state.n_restarts if state is not None else None

    before = kernel.facts()
    first = restarts()
    best: Optional[UnitCgroupNodes] = None
    appearances, present = 0, False
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        nodes = kernel.unit_nodes(unit)
        own = nodes is not None and nodes.measured_on == unit
        if own and not present:
            appearances += 1  # absent -> present: a start (very short ones can slip between two polls)
        present = own
        if own and (best is None or nodes.nodes > best.nodes):
            best = nodes
        time.sleep(poll)
    elapsed = time.monotonic() - started
    last = restarts()
    delta = last - first if first is not None and last is not None else None
    return Measurement(unit, elapsed, delta, appearances, best, before, kernel.facts())
