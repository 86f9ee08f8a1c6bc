"""The host side of the lab: commands run on the machine, its mounts and its nspawn processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "SYSTEMD_COLORS": "0",
    "SYSTEMD_PAGER": "cat",
    "PAGER": "cat",
}


def log(msg: str) -> None:
    print(f"[lab {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def run_host(cmd, *, check=True, timeout=120, input_text=None, stdout=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd,
        check=check,
        timeout=timeout,
        input=input_text,
        text=True if stdout is None else False,
        stdout=stdout if stdout is not None else subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=HOST_ENV,
    )


def mounted_under(prefix: str) -> list[str]:
    out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], text=True, capture_output=True).stdout
    prefix = prefix.rstrip("/")
    return [t for t in out.split() if t == prefix or t.startswith(prefix + "/")]


def other_nspawn_running() -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == "systemd-nspawn":
                    pids.append(int(entry))
        except OSError:
            pass
    return pids


def nspawn_pids_for(root: str) -> list[int]:
    """systemd-nspawn processes whose -D is `root`."""
    found = []
    for pid in other_nspawn_running():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if root.encode() in argv:
            found.append(pid)
    return found


def shquote(s: str) -> str:
    """`s` as a shell would need it, quoted only when it must be (the MANIFEST's command lines)."""
    return s if re.fullmatch(r"[\w@%+=:,./-]+", s) else "'" + s.replace("'", "'\\''") + "'"
