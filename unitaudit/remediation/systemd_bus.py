"""The calls that change systemd: the manager methods a fix uses, over dbus-next.

Kept apart from sources/dbus.py, which is read-only by construction: a scan never imports this.
Each call is one connection (a fix makes a handful), with the source's error handling."""
from typing import Any, List, Sequence

from unitaudit.sources.dbus import MANAGER, MANAGER_PATH, DBusSource

# member -> D-Bus signature of its arguments
SIGNATURES = {
    "Reload": "",
    "ReenableUnitFiles": "asbb",  # files, runtime, force -> (carries_install_info, changes a(sss))
    "MaskUnitFiles": "asbb",  # files, runtime, force -> changes a(sss)
    "StartUnit": "ss",
    "StopUnit": "ss",
    "RestartUnit": "ss",
    "ResetFailedUnit": "s",
}


class SystemdManager(DBusSource):
    def call(self, member: str, body: Sequence[Any]) -> List[Any]:
        signature = SIGNATURES[member]  # KeyError: not a call a fix may make

        async def work(bus):
            self._stage = member
            return await self._call(bus, MANAGER_PATH, MANAGER, member, signature, body)

        return self._run(work)
