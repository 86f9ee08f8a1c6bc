"""The lab: a real systemd (journald, dbus-daemon, logind) booted in systemd-nspawn over a throwaway
overlay of a root file system (this machine's, or one of roots.py), as /work/shared/LAB.md describes.

Used by the lab tests (tests/lab), `make demo` (examples/demo.py), the evidence recorder
(examples/record_lab.py) and bench/live.py.  Needs root and systemd-container.  Teardown never leaves
a mount or a process behind: `Lab.teardown` is safe to call twice and from signal handlers'
unwinding, and reap.reap_stale cleans up after a run that was killed outright (SIGKILL skips every
`finally`).  What the booted root enabled does not start in the lab (units.py).
"""

from __future__ import annotations

import atexit
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from unitaudit_lab import units
from unitaudit_lab.cgroups import own_cgroups, remove_cgroups
from unitaudit_lab.host import HOST_ENV, log, mounted_under, run_host, shquote

LAB_PARENT = tempfile.gettempdir()
LAB_PREFIX = "unitaudit-lab-"
CHECKOUT = Path(__file__).resolve().parent.parent


class Interrupted(BaseException):
    """Raised from the SIGTERM handler so that every `finally` runs."""


# --------------------------------------------------------------------------------------------------
# The lab (LAB.md, "How it boots")
# --------------------------------------------------------------------------------------------------


class Lab:
    def __init__(self, name: str, binds: tuple = (), lower: str = "/", start: tuple = ()):
        self.name = name
        # The overlay's lower layer: this machine's root (the default), or a root debootstrapped
        # by roots.py (another Debian release, another systemd).
        self.lower = str(lower)
        # Units the root enabled that this lab starts all the same, because the test is about
        # them; every other unit the root enabled is masked (units.py).
        self.start = tuple(start)
        # Host directories shown read-only at the same path inside: the overlay shows the root file
        # system, but nspawn puts a fresh tmpfs on /tmp, so a checkout under /tmp (CI's clone) would
        # be missing.  The checkout (and the Python running it) is bound by default.  Over another
        # release's root the labs run what is installed there, not this checkout: nothing of it is
        # bound; the host's kernel modules are (read-only), so that modprobe looks where it does on
        # the host and fails the same way ("not found in directory /lib/modules/<kernel>").
        own = default_binds() if self.own_root else foreign_binds()
        self.binds = tuple(dict.fromkeys(str(b) for b in binds + own))
        self.dir: Path | None = None
        self.root: Path | None = None
        self.nspawn: subprocess.Popen | None = None
        self.leader: int | None = None
        self.machine_id: str | None = None
        self.mounted = False
        self.masked: list[str] = []  # what the root enabled and the lab does not start
        self.commands: list[str] = []  # every command run inside, in order, for the MANIFEST
        self.boot_seconds: float | None = None
        self.system_state: str | None = None
        self.cgroups: list[str] = []  # the lab's own cgroup in each hierarchy (see cgroups.py)

    @property
    def own_root(self) -> bool:
        """Over this machine's own root (not a debootstrapped one)."""
        return os.path.realpath(self.lower) == "/"

    # -- boot ----------------------------------------------------------------------------------
    def boot(self) -> None:
        self._mount_overlay()
        # fresh machine-id, else journald refuses to link journals
        self.machine_id = run_host(["systemd-id128", "new"]).stdout.strip()
        (self.root / "etc/machine-id").write_text(self.machine_id + "\n")
        # What the root enabled would start inside too (a server on the machine's own ports, the
        # host's timers and hardware daemons): masked in the overlay, the root is not written.
        self.masked = units.units_to_mask(self.lower, start=self.start, own_root=self.own_root)
        units.mask(self.root, self.masked)
        log(f"overlay of {self.lower} mounted at {self.root}, machine-id {self.machine_id}; "
            f"{len(self.masked)} units it enabled are masked")
        t0 = time.monotonic()
        self._start_nspawn()
        self.leader = self._find_leader(timeout=30)
        log(f"nspawn pid {self.nspawn.pid}, container PID 1 = host pid {self.leader}")
        self.system_state = self._wait_running(timeout=180)
        self.boot_seconds = time.monotonic() - t0
        log(f"is-system-running: {self.system_state} after {self.boot_seconds:.1f} s")
        if self.system_state not in ("running", "degraded"):
            raise RuntimeError(f"container did not come up: {self.system_state}\n"
                               + self.run("systemctl", "--failed", check=False).stdout)

    def _mount_overlay(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"{LAB_PREFIX}{self.name}-", dir=LAB_PARENT))
        for sub in ("up", "work", "root"):
            (self.dir / sub).mkdir()
        (self.dir / "owner").write_text("%d\n" % os.getpid())  # reap_stale: whose lab this is
        self.root = self.dir / "root"
        d = self.dir
        run_host(["mount", "-t", "overlay", "overlay", "-o",
                  f"lowerdir={self.lower},upperdir={d}/up,workdir={d}/work", str(self.root)])
        self.mounted = True

    def _start_nspawn(self) -> None:
        d = self.dir
        logf = open(d / "nspawn.log", "wb")
        cmd = ["systemd-nspawn", "-D", str(self.root), "--register=no", "--keep-unit",
               "-M", self.name, "--console=passive", *["--bind-ro=%s" % b for b in self.binds], "--boot"]
        # nspawn starts in a cgroup of the lab's own (cgroups.py says why): sh moves itself, then execs.
        self.cgroups = own_cgroups(self.dir.name)
        (d / "cgroups").write_text("".join(g + "\n" for g in self.cgroups))
        if self.cgroups:
            cmd = ["sh", "-c", "".join("echo $$ > %s/cgroup.procs && " % shlex.quote(g) for g in self.cgroups)
                   + 'exec "$@"', "sh", *cmd]
        # start_new_session=True is `setsid` without the extra fork that setsid(1) may do
        self.nspawn = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, env=HOST_ENV,
        )
        logf.close()

    def _find_leader(self, timeout: float) -> int:
        """First child of the nspawn process that is systemd in a new pid namespace."""
        own_ns = os.readlink("/proc/self/ns/pid")
        deadline = time.monotonic() + timeout
        pid = self.nspawn.pid
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                raise RuntimeError("systemd-nspawn exited early:\n" + self.nspawn_log())
            children = []
            try:
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children") as f:
                        children += [int(c) for c in f.read().split()]
            except OSError:
                pass
            for c in children:
                try:
                    ns = os.readlink(f"/proc/{c}/ns/pid")
                    with open(f"/proc/{c}/comm") as f:
                        comm = f.read().strip()
                except OSError:
                    continue
                if ns != own_ns and comm == "systemd":
                    return c
            time.sleep(0.05)
        raise RuntimeError("no container PID 1 found under nspawn:\n" + self.nspawn_log())

    def _wait_running(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            r = self.run("systemctl", "is-system-running", "--wait", check=False,
                         timeout=max(5, deadline - time.monotonic()), record=False)
            last = (r.stdout.strip() or r.stderr.strip())
            if last in ("running", "degraded", "maintenance", "stopping"):
                return last
            time.sleep(0.2)  # bus not up yet ("Failed to connect to bus"): retry
        return last or "timeout"

    def nspawn_log(self) -> str:
        try:
            return (self.dir / "nspawn.log").read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    # -- inside --------------------------------------------------------------------------------
    def run(self, *cmd: str, check=True, timeout=120, record=True, env=None) -> subprocess.CompletedProcess:
        if record:
            self.commands.append(" ".join(shquote(c) for c in cmd))
        r = subprocess.run(["nsenter", "-t", str(self.leader), "-a", *cmd], text=True,
                           capture_output=True, timeout=timeout, env={**HOST_ENV, **(env or {})})
        if check and r.returncode != 0:
            raise RuntimeError(f"inside: {' '.join(cmd)} -> rc={r.returncode}\n{r.stdout}{r.stderr}")
        return r

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        p = self.root / path.lstrip("/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
        os.chmod(p, mode)
        self.commands.append(f"# host wrote {path} (mode {mode:o}, {len(text)} bytes)")

    @property
    def bus_address(self) -> str:
        """The container's system bus, reachable from the host (LAB.md)."""
        return f"unix:path=/proc/{self.leader}/root/run/dbus/system_bus_socket"

    def wait_for(self, what: str, check, timeout: float = 90, every: float = 0.5):
        """Poll `check()` until it returns something true; its value is returned."""
        return wait_until(f"lab {self.name}", what, check, timeout, every)

    def journal_dir(self) -> Path:
        return self.root / "var/log/journal" / self.machine_id

    # -- stop ----------------------------------------------------------------------------------
    def shutdown(self, timeout: float = 30) -> None:
        """Clean stop: SIGTERM to nspawn makes it halt the container (journald closes its files)."""
        if self.nspawn is None or self.nspawn.poll() is not None:
            return
        self.nspawn.send_signal(signal.SIGTERM)
        try:
            self.nspawn.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            log("nspawn did not exit after SIGTERM; killing")
            self._kill_hard()

    def _kill_hard(self) -> None:
        if self.leader:
            try:
                os.kill(self.leader, signal.SIGKILL)  # kills the whole container pid namespace
            except ProcessLookupError:
                pass
        if self.nspawn and self.nspawn.poll() is None:
            try:
                os.killpg(self.nspawn.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.nspawn.wait(timeout=30)

    def teardown(self) -> None:
        """Always safe to call; never leaves a mount behind and never deletes through a mount."""
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                self.shutdown(timeout=20)
            except Exception as e:  # noqa: BLE001
                log(f"shutdown: {e}; killing")
                self._kill_hard()
            if self.dir is None:
                return
            root = str(self.root)
            for attempt in range(20):
                if not mounted_under(root):
                    break
                r = subprocess.run(["umount", root], capture_output=True, text=True)
                if r.returncode != 0:
                    time.sleep(0.5)
            if mounted_under(root):
                log("overlay still busy; lazy unmount")
                subprocess.run(["umount", "-l", root])
            left = mounted_under(str(self.dir))
            if left:
                log(f"WARNING: mounts left under {self.dir}: {left}; not removing it")
                return
            kept = remove_cgroups(self.cgroups)
            if kept:
                log(f"WARNING: cgroups left (processes still in them): {kept}")
            shutil.rmtree(self.dir, ignore_errors=True)
            log(f"lab {self.name} torn down; nothing mounted under {self.dir}; removed")
        finally:
            for s, h in old.items():
                signal.signal(s, h)


def wait_until(who: str, what: str, check, timeout: float, every: float = 0.5):
    """Poll `check()` until it returns something true (returned), or fail after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeError(f"{who}: timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def default_binds() -> tuple:
    """This checkout, and the Python environment running us when it lives under /tmp."""
    out = [CHECKOUT]
    for prefix in {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}:
        p = Path(prefix).resolve()
        if str(p).startswith(("/tmp/", "/var/tmp/")) and CHECKOUT not in p.parents and p != CHECKOUT:
            out.append(p)
    return tuple(out)


def foreign_binds() -> tuple:
    """What a lab over another release's root sees of the host: its kernel modules, if any."""
    return tuple(p for p in ("/lib/modules",) if os.path.isdir(p))


# -- one booted lab for the length of a `with` block ------------------------------------------------

_LIVE: set = set()


def _teardown_all() -> None:
    for lab in list(_LIVE):
        lab.teardown()
        _LIVE.discard(lab)


def _interrupt(signum, frame):
    # KeyboardInterrupt, not a custom exception: pytest and plain scripts both unwind on it,
    # running every finally and fixture finalizer on the way out.
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def booted(name: str, binds: tuple = (), lower: str = "/", start: tuple = ()):
    """Boot a lab, yield it, always tear it down: on an exception, on SIGTERM/SIGHUP/SIGINT
    (turned into KeyboardInterrupt), and at interpreter exit as a last resort.  `lower`: the root
    the overlay shows (this machine's, or one of roots.py); `start`: units that root enabled that
    the lab starts all the same (every other one is masked)."""
    lab = Lab(name, binds, lower, start)
    _LIVE.add(lab)
    old = {}
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        try:
            old[sig] = signal.signal(sig, _interrupt)
        except ValueError:  # not the main thread: leave the handlers alone
            break
    try:
        lab.boot()
        yield lab
    finally:
        try:
            lab.teardown()
        finally:
            _LIVE.discard(lab)
            for sig, handler in old.items():
                signal.signal(sig, handler)


atexit.register(_teardown_all)
