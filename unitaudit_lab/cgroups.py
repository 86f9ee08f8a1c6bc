"""A cgroup of each lab's own.

With --keep-unit nspawn puts the container in a `payload` cgroup beside its own cgroup: every lab
started from the same cgroup would share one tree (/payload/system.slice/...), and each
container's systemd would kill and remove the others' unit cgroups (seen: "Failed to kill control
group ...: Input/output error", status=219/CGROUP, result 'resources').  So nspawn starts in a
cgroup of the lab's own, made here and removed at teardown (or by reap_stale).
"""

from __future__ import annotations

import os

from unitaudit_lab.host import log


def own_cgroups(name: str) -> list[str]:
    """A new cgroup `name` beside this process's own, in the unified hierarchy and (on a hybrid
    host) the named `systemd` v1 one: the two systemd uses to track units.  [] where none can be
    made (then nspawn runs where we are, as before)."""
    try:
        mounts, own = _hierarchies(), _own_paths()
    except (OSError, ValueError):
        return []
    made = []
    for key, mnt in mounts.items():
        if key not in own:
            continue
        g = os.path.join(mnt, own[key].lstrip("/"), name)
        try:
            os.mkdir(g)
        except OSError as e:
            log(f"no cgroup of its own for the lab ({g}: {e.strerror}): it shares ours")
            remove_cgroups(made)
            return []
        made.append(g)
    return made


def _hierarchies() -> dict[str, str]:
    """Where the unified hierarchy ("") and the named systemd v1 one are mounted."""
    mounts = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, rfields = left.split(), right.split()
            if len(fields) < 5 or len(rfields) < 3:
                continue
            if rfields[0] == "cgroup2":
                mounts.setdefault("", fields[4])
            elif rfields[0] == "cgroup" and "name=systemd" in rfields[2].split(","):
                mounts.setdefault("name=systemd", fields[4])
    return mounts


def _own_paths() -> dict[str, str]:
    """This process's cgroup in each hierarchy, by controller list ("" for the unified one)."""
    with open("/proc/self/cgroup") as f:
        return {ctrl: path for _, ctrl, path in (line.rstrip("\n").split(":", 2) for line in f)}


def remove_cgroups(cgroups) -> list[str]:
    """rmdir each lab cgroup and what systemd made under it, deepest first; what could not go."""
    kept = []
    for g in cgroups:
        for top, dirs, _ in os.walk(g, topdown=False):
            for sub in [os.path.join(top, x) for x in dirs] + ([g] if top == g else []):
                try:
                    os.rmdir(sub)
                except FileNotFoundError:
                    pass
                except OSError:
                    kept.append(sub)
    return kept
