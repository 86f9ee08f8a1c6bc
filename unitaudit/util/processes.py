"""Whether a process still runs, told apart from a later process that reused its pid.

A pid alone is not an identity: after a crash and a reboot (or just many forks) another process
may hold it.  The start time in /proc/PID/stat (clock ticks since boot) is recorded beside the
pid, and a process is the one recorded only when both match.
"""
import os
from typing import List, Optional


def _stat_fields(pid: int) -> List[bytes]:
    """/proc/PID/stat from field 3 (state) on; the command name before it may hold spaces."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


def start_time(pid: int) -> Optional[int]:
    """Field 22 of /proc/PID/stat (clock ticks since boot), or None without /proc."""
    try:
        return int(_stat_fields(pid)[19])
    except OSError:
        return None


def is_alive(pid: int, start: Optional[int]) -> bool:
    """Whether process `pid`, started at `start` (start_time's answer then, None if unknown),
    still runs: a zombie does not; without /proc, only whether the pid exists can be asked."""
    try:
        fields = _stat_fields(pid)
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: all that can be asked is whether the pid exists
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if fields[0] == b"Z":  # killed, not yet reaped by its parent
        return False
    return start is None or int(fields[19]) == start
