"""What a lab starts: the root it overlays boots as shipped, less what was enabled on it.

A lab boots a root file system (this machine's, or one of roots.py).  Everything its administrator
and its packages enabled would start in the lab too: Prometheus and its exporters' timers,
PostgreSQL, smartd, an init script's daemon.  The container shares the machine's network, so a
server finds its port taken; a hardware daemon finds no device; each shows up as a loop or a
failure the test did not make, and makes the boot slow.  So the lab masks them (`name ->
/dev/null` in the overlay's upper /etc/systemd/system: the root itself is never written), except
what every lab needs and the units a test starts on purpose (`Lab(start=...)`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

# Where enabling a unit leaves a link: `systemctl enable`, a package's postinst (deb-systemd-helper,
# which follows the presets) and an administrator's own links all write these directories.
ENABLED_IN = (".wants", ".requires", ".upholds")
# Init scripts without a unit of their own: systemd-sysv-generator makes a service of each script
# linked as S<nn><name> in the multi-user runlevels (on this machine: openipmi, which Prometheus'
# exporters pull in).  A script with a unit of the same name is that unit's, enabled by its links.
SYSV_RUNLEVELS = ("rc2.d", "rc3.d", "rc4.d", "rc5.d")
UNIT_DIRS = ("etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system")

# What every lab runs, enabled or static: the bus and the journal (systemctl, busctl and the scan
# read them) and logind; then the units the scenarios (scenarios.py) build the seed's loops and the
# controls from, which they expect enabled as the root ships them.
LAB_NEEDS = frozenset({
    "dbus.service", "dbus.socket", "dbus-broker.service",
    "systemd-journald.service", "systemd-journald.socket", "systemd-journald-dev-log.socket",
    "systemd-logind.service",
    "avahi-daemon.service", "avahi-daemon.socket", "logrotate.timer", "logrotate.service",
})
# Masked over this machine's root even where nothing in /etc enables them: a generator starts
# postgresql@ instances, and a socket of these would answer on the machine's own ports.
ALWAYS_MASKED = ("postgresql.service", "postgresql@.service", "ssh.service", "ssh.socket", "cups.service",
                 "cups.socket", "cups-browsed.service", "nginx.service", "apache2.service", "mysql.service",
                 "mariadb.service", "redis-server.service", "docker.service", "containerd.service")


def enabled_units(root: str | os.PathLike) -> list[str]:
    """Every unit `root` has enabled: the links under its /etc/systemd/system/*.wants/ (.requires/,
    .upholds/), and its init scripts started in a runlevel (as systemd-sysv-generator names them)."""
    names = set()
    etc = Path(root) / "etc/systemd/system"
    for d in _dirs(etc):
        if d.suffix in ENABLED_IN:
            names.update(entry.name for entry in d.iterdir())
    for level in SYSV_RUNLEVELS:
        names.update(n for n in _sysv_started(Path(root) / "etc" / level) if not _has_unit(root, n))
    return sorted(names)


def _dirs(path: Path) -> list[Path]:
    try:
        return [p for p in path.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return []


def _has_unit(root: str | os.PathLike, name: str) -> bool:
    return any(os.path.lexists(os.path.join(str(root), d, name)) for d in UNIT_DIRS)


def _sysv_started(level_dir: Path) -> set[str]:
    """`S01openipmi` -> openipmi.service."""
    try:
        entries = os.listdir(level_dir)
    except OSError:
        return set()
    return {e[3:] + ".service" for e in entries if len(e) > 3 and e[0] == "S" and e[1:3].isdigit()}


def units_to_mask(root: str | os.PathLike, start: Iterable[str] = (), own_root: bool = True) -> list[str]:
    """What a lab over `root` masks: what the root enabled (and, over this machine's own root, the
    network servers of ALWAYS_MASKED), less LAB_NEEDS and the units the test starts on purpose."""
    keep = LAB_NEEDS | set(start)
    wanted = set(enabled_units(root)) | (set(ALWAYS_MASKED) if own_root else set())
    return sorted(wanted - keep)


def mask(upper_root: Path, names: Iterable[str]) -> None:
    """`name -> /dev/null` in the lab's /etc/systemd/system (through the overlay: a unit file or an
    alias the root has there is hidden, not changed)."""
    unit_dir = upper_root / "etc/systemd/system"
    unit_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        link = unit_dir / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to("/dev/null")
