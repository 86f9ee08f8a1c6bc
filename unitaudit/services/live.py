"""What a live scan adds to the journal: unit states over D-Bus and the diagnosis of each cause;
and `churn --measure`, which watches a unit live.

Its own module so that an offline scan never imports dbus-next: the CLI imports this one only
for a live scan (scan.ScanRequest.is_live)."""
from typing import Optional

from unitaudit.errors import UsageError
from unitaudit.services.parts import LiveParts, diagnosis_step
from unitaudit.sources import cgroup_watch
from unitaudit.sources.dbus import DBusSource
from unitaudit.sources.kernel import KernelSource
from unitaudit.sources.probe import SystemProbe
from unitaudit.util.names import is_unit_name


def live_parts(bus_address: Optional[str], root: str = "/", bus: Optional[DBusSource] = None,
               probe: Optional[SystemProbe] = None, kernel: Optional[KernelSource] = None) -> LiveParts:
    """The D-Bus source, the diagnosis step and the kernel source for the machine whose bus is
    `bus_address` (None: the system bus) and whose files are under `root`.  `bus`, `probe` and
    `kernel`: those to use instead (collect's, which record what they answer)."""
    bus = bus if bus is not None else DBusSource(bus_address)
    probe = probe if probe is not None else SystemProbe(root)
    return LiveParts(bus, diagnosis_step(bus, probe), kernel if kernel is not None else KernelSource(root))


def check_measure(unit: str, seconds: float) -> None:
    """`churn --measure UNIT --seconds N`, checked before anything is scanned."""
    if not is_unit_name(unit) or seconds <= 0:
        raise UsageError("--measure needs a unit name and --seconds a positive number")


def measure_churn(unit: str, seconds: float, bus_address: Optional[str], root: str = "/"):
    """`churn --measure`: watch `unit` for `seconds` and count what its starts create."""
    return cgroup_watch.measure(unit, seconds, DBusSource(bus_address), KernelSource(root))
