"""`churn --measure`: watch one unit for a while and count what its starts really create."""
import time
from dataclasses import dataclass
from typing import Optional

from unitaudit.model import KernelFacts, UnitCgroupNodes


@dataclass(frozen=True)
class Measurement:
    unit: str
    seconds: float
    restarts: Optional[int]  # NRestarts after - before (None: not reported)
    nodes: Optional[UnitCgroupNodes]  # the most nodes seen in the unit's own directories
    before: KernelFacts
    after: KernelFacts


def watch(unit: str, seconds: float, bus, kernel, poll: float = 0.02) -> Measurement:
    """NRestarts over D-Bus at both ends; the unit's cgroup directories counted every `poll` s
    while they exist (a failing ExecStartPre leaves them only milliseconds); the kernel's
    figures before and after."""
    def restarts() -> Optional[int]:
        state = bus.read().by_name().get(unit)
        return state.n_restarts if state is not None else None

    before = kernel.facts()
    first = restarts()
    best: Optional[UnitCgroupNodes] = None
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        nodes = kernel.unit_nodes(unit)
        if nodes is not None and nodes.measured_on == unit and (best is None or nodes.nodes > best.nodes):
            best = nodes
        time.sleep(poll)
    elapsed = time.monotonic() - started
    last = restarts()
    delta = last - first if first is not None and last is not None else None
    return Measurement(unit, elapsed, delta, best, before, kernel.facts())
