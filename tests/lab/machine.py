"""The lab: a real systemd (journald, dbus-daemon, logind) booted in systemd-nspawn over a throwaway
overlay of this machine's root filesystem, as /work/shared/LAB.md describes.

Used by the lab tests (tests/lab/conftest.py), `make demo` (examples/demo.py) and the evidence
recorder (examples/record_lab.py).  Needs root and systemd-container.  Teardown never leaves a mount
or a process behind: `Lab.teardown` is safe to call twice and from signal handlers' unwinding, and
`reap_stale` cleans up after a run that was killed outright (SIGKILL skips every `finally`).
"""

from __future__ import annotations

import atexit
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

HOST_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "TZ": "UTC",
    "SYSTEMD_COLORS": "0",
    "SYSTEMD_PAGER": "cat",
    "PAGER": "cat",
}


LAB_PARENT = tempfile.gettempdir()
MASKED_IN_LAB = ("postgresql.service", "postgresql@.service", "ssh.service", "ssh.socket", "cups.service",
                 "cups.socket", "cups-browsed.service", "nginx.service", "apache2.service", "mysql.service",
                 "mariadb.service", "redis-server.service", "docker.service", "containerd.service")
LAB_PREFIX = "unitaudit-lab-"


class Interrupted(BaseException):
    """Raised from the SIGTERM handler so that every `finally` runs."""


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


# --------------------------------------------------------------------------------------------------
# The lab (LAB.md, "How it boots")
# --------------------------------------------------------------------------------------------------


class Lab:
    def __init__(self, name: str, binds: tuple = (), lower: str = "/"):
        self.name = name
        # The overlay's lower layer: this machine's root (the default), or a root debootstrapped
        # by tests/lab/roots.py (another Debian release, another systemd).
        self.lower = str(lower)
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
        self.commands: list[str] = []  # every command run inside, in order, for the MANIFEST
        self.boot_seconds: float | None = None
        self.system_state: str | None = None
        self.cgroups: list[str] = []  # the lab's own cgroup in each hierarchy (see own_cgroups)

    @property
    def own_root(self) -> bool:
        """Over this machine's own root (not a debootstrapped one)."""
        return os.path.realpath(self.lower) == "/"

    # -- boot ----------------------------------------------------------------------------------
    def boot(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"{LAB_PREFIX}{self.name}-", dir=LAB_PARENT))
        for sub in ("up", "work", "root"):
            (self.dir / sub).mkdir()
        (self.dir / "owner").write_text("%d\n" % os.getpid())  # reap_stale: whose lab this is
        self.root = self.dir / "root"
        d = self.dir
        run_host(["mount", "-t", "overlay", "overlay", "-o",
                  f"lowerdir={self.lower},upperdir={d}/up,workdir={d}/work", str(self.root)])
        self.mounted = True
        # fresh machine-id, else journald refuses to link journals
        self.machine_id = run_host(["systemd-id128", "new"]).stdout.strip()
        (self.root / "etc/machine-id").write_text(self.machine_id + "\n")
        # The container shares the machine's network namespace: a network service enabled on the
        # machine (postgresql here) would start again inside, find its port taken and hold the
        # boot for minutes.  Masked in the overlay only (a debootstrapped root enables none).
        for unit in MASKED_IN_LAB if self.own_root else ():
            link = self.root / "etc/systemd/system" / unit
            if not link.exists() and not link.is_symlink():
                link.symlink_to("/dev/null")
        log(f"overlay of {self.lower} mounted at {self.root}, machine-id {self.machine_id}")

        t0 = time.monotonic()
        logf = open(d / "nspawn.log", "wb")
        cmd = ["systemd-nspawn", "-D", str(self.root), "--register=no", "--keep-unit",
               "-M", self.name, "--console=passive", *["--bind-ro=%s" % b for b in self.binds], "--boot"]
        # With --keep-unit nspawn puts the container in a `payload` cgroup beside its own cgroup:
        # every lab started from the same cgroup would share one tree (/payload/system.slice/...),
        # and each container's systemd would kill and remove the others' unit cgroups (seen:
        # "Failed to kill control group ...: Input/output error", status=219/CGROUP, result
        # 'resources').  nspawn starts in a cgroup of the lab's own instead (sh moves itself, then execs).
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
        self.leader = self._find_leader(timeout=30)
        log(f"nspawn pid {self.nspawn.pid}, container PID 1 = host pid {self.leader}")
        self.system_state = self._wait_running(timeout=180)
        self.boot_seconds = time.monotonic() - t0
        log(f"is-system-running: {self.system_state} after {self.boot_seconds:.1f} s")
        if self.system_state not in ("running", "degraded"):
            raise RuntimeError(f"container did not come up: {self.system_state}\n"
                               + self.run("systemctl", "--failed", check=False).stdout)

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
            self.commands.append(" ".join(_shquote(c) for c in cmd))
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
        deadline = time.monotonic() + timeout
        while True:
            value = check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise RuntimeError(f"lab {self.name}: timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(every)

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


def default_binds() -> tuple:
    """This checkout, and the Python environment running us when it lives under /tmp."""
    checkout = Path(__file__).resolve().parent.parent.parent
    out = [checkout]
    for prefix in {sys.prefix, sys.base_prefix, os.path.dirname(os.path.realpath(sys.executable))}:
        p = Path(prefix).resolve()
        if str(p).startswith(("/tmp/", "/var/tmp/")) and checkout not in p.parents and p != checkout:
            out.append(p)
    return tuple(out)


def own_cgroups(name: str) -> list[str]:
    """A new cgroup `name` beside this process's own, in the unified hierarchy and (on a hybrid
    host) the named `systemd` v1 one: the two systemd uses to track units.  [] where none can be
    made (then nspawn runs where we are, as before)."""
    mounts = {}
    try:
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
        with open("/proc/self/cgroup") as f:
            own = {ctrl: path for _, ctrl, path in (line.rstrip("\n").split(":", 2) for line in f)}
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


def foreign_binds() -> tuple:
    """What a lab over another release's root sees of the host: its kernel modules, if any."""
    return tuple(p for p in ("/lib/modules",) if os.path.isdir(p))


def _shquote(s: str) -> str:
    return s if re.fullmatch(r"[\w@%+=:,./-]+", s) else "'" + s.replace("'", "'\\''") + "'"


# --------------------------------------------------------------------------------------------------
# Scenario files


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale() -> list[str]:
    """Tear down labs whose owner process is gone (a run killed with SIGKILL, a crashed CI job):
    kill their nspawn, unmount, remove.  Labs of live processes (a concurrent run) are left alone.
    Returns what was cleaned, for the log."""
    cleaned = []
    for entry in sorted(os.listdir(LAB_PARENT)):
        d = Path(LAB_PARENT) / entry
        if not entry.startswith(LAB_PREFIX) or not d.is_dir():
            continue
        try:
            owner = int((d / "owner").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            owner = 0
        root = str(d / "root")
        if (owner and _alive(owner)) or (not owner and _nspawn_pids_for(root)):
            continue  # a live run's lab (or one whose owner is unknown and still running): not ours
        for pid in _nspawn_pids_for(root):
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        deadline = time.monotonic() + 10
        while _nspawn_pids_for(root) and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(10):
            if not mounted_under(root):
                break
            if subprocess.run(["umount", root], capture_output=True).returncode != 0:
                time.sleep(0.3)
        if mounted_under(root):
            subprocess.run(["umount", "-l", root], capture_output=True)
        if not mounted_under(str(d)):
            try:
                remove_cgroups((d / "cgroups").read_text().split())
            except OSError:
                pass
            shutil.rmtree(d, ignore_errors=True)
            cleaned.append(str(d))
    return cleaned


def _nspawn_pids_for(root: str) -> list[int]:
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
def booted(name: str, binds: tuple = (), lower: str = "/"):
    """Boot a lab, yield it, always tear it down: on an exception, on SIGTERM/SIGHUP/SIGINT
    (turned into KeyboardInterrupt), and at interpreter exit as a last resort.  `lower`: the root
    the overlay shows (this machine's, or one of tests/lab/roots.py)."""
    lab = Lab(name, binds, lower)
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
