"""A fleet in the lab: client machines shipping their journals to a central one (issue 18).

The central lab runs systemd-journal-remote, listening over plain HTTP on a port of 127.0.0.1 (the
labs share this machine's network namespace, so every lab reaches it there); each client lab runs
systemd-journal-upload towards it.  Both run as transient units (`systemd-run`): the packaged ones
speak HTTPS with certificates on the fixed port 19532 (this machine's, since the network is shared),
and a lab masks whatever this machine enabled (units.py).

Each client gets a hostname and loops of its own.  Two clients may share a hostname, as cloned
desktops do; the loops' unit names and rhythms differ per client so that evidence attributed to the
wrong machine shows.  When a client's loops have repeated often enough, they are stopped and the
client logs a marker: journal-upload sends entries in order, so the marker's arrival on the central
means every entry of the loops before it arrived too.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass, field

from unitaudit_lab import scenarios
from unitaudit_lab.machine import Lab

REMOTE_DIR = "/var/log/journal/remote"  # where the packaged systemd-journal-remote.service writes
REMOTE_BIN = "/lib/systemd/systemd-journal-remote"
UPLOAD_BIN = "/lib/systemd/systemd-journal-upload"
REMOTE_UNIT = "ua-journal-remote.service"
UPLOAD_UNIT = "ua-journal-upload.service"
MARK_TAG = "ua-fleet"  # SYSLOG_IDENTIFIER of the markers

RESTART_LOOP = """\
[Unit]
Description=Lab fleet: {unit} fails as soon as it starts and is restarted

[Service]
Type=simple
ExecStart=/bin/sh -c 'echo "{unit}: cannot reach its server" >&2; exit 1'
Restart=always
RestartSec={every}
"""

# The seed's deepin-anything-monitor pattern (scenarios.ANYTHING_MONITOR): an ExecStartPre that
# loads a module the kernel does not have, so the start fails before ExecStart.
EXECSTARTPRE_LOOP = """\
[Unit]
Description=Lab fleet: {unit} needs kernel module {module}

[Service]
Type=simple
ExecStartPre=/usr/sbin/modprobe {module}
ExecStart=/bin/sleep infinity
Restart=always
RestartSec={every}
"""

FAILING_JOB = """\
[Unit]
Description=Lab fleet: {unit} fails on every run

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo "{unit}: spool directory missing" >&2; exit 2'
"""

# every {every} s, as the seed's logrotate drop-in (scenarios.LOGROTATE_TIMER_DROPIN) does it
FAILING_JOB_TIMER = """\
[Unit]
Description=Lab fleet: runs {unit} every {every} s

[Timer]
OnCalendar=*:*:0/{every}
AccuracySec=1s
"""


@dataclass(frozen=True)
class Loop:
    """One loop a client runs: the unit unitaudit should report, as `kind`, once the unit's own
    journal holds `enough` of the lines `needle` matches (counted on the client)."""
    unit: str
    kind: str
    needle: str  # in PID 1's line of each event: what the finding's count counts
    enough: int
    files: dict = field(default_factory=dict)  # path -> text
    start: tuple = ()  # units started (a timer, or the looping service itself)
    cause: str | None = None  # the cause unitaudit should name, when the journal proves one


def restart_loop(unit: str, every: int = 2) -> Loop:
    # restart_counter (3) proves a loop; 4 restarts leave a margin.  RestartSec=2 and up keeps
    # systemd's start limit (5 starts in 10 s) from ending the loop, as on the seed machine.
    return Loop(unit, "restart-loop", "Scheduled restart job", 4,
                {"/etc/systemd/system/" + unit: RESTART_LOOP.format(unit=unit, every=every)}, (unit,))


def execstartpre_loop(unit: str, module: str, every: int = 2) -> Loop:
    return Loop(unit, "restart-loop", "Scheduled restart job", 4,
                {"/etc/systemd/system/" + unit: EXECSTARTPRE_LOOP.format(unit=unit, module=module, every=every)},
                (unit,), cause="execstartpre-failed")


def failing_job(unit: str, every: int = 2) -> Loop:
    timer = unit.rsplit(".", 1)[0] + ".timer"
    # repeated_failures is 3; 4 failed runs leave a margin
    return Loop(unit, "repeated-failure", "Failed with result", 4,
                {"/etc/systemd/system/" + unit: FAILING_JOB.format(unit=unit),
                 "/etc/systemd/system/" + timer: FAILING_JOB_TIMER.format(unit=unit, every=every)}, (timer,))


@dataclass
class Client:
    """A client machine: its lab, the hostname it takes, its loops; `counts` (unit -> events in
    its own journal) once its loops are stopped."""
    lab: Lab
    hostname: str
    loops: tuple
    counts: dict = field(default_factory=dict)

    @property
    def machine_id(self) -> str:
        return self.lab.machine_id


def free_port() -> int:
    """A TCP port of 127.0.0.1 free now (the kernel's pick) for journal-remote to listen on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_remote(central: Lab, timeout: float = 30, attempts: int = 3) -> int:
    """systemd-journal-remote in `central`, over HTTP on a free port of 127.0.0.1, into REMOTE_DIR;
    its port, once it listens there.  Another program may take the port between free_port() and
    the bind: then another port."""
    central.run("mkdir", "-p", REMOTE_DIR)
    error = None
    for _attempt in range(attempts):
        port = free_port()
        central.run("systemd-run", "--unit=" + REMOTE_UNIT, REMOTE_BIN, "--listen-http=127.0.0.1:%d" % port,
                    "--output=%s/" % REMOTE_DIR)
        try:
            central.wait_for("journal-remote listening on 127.0.0.1:%d" % port, lambda: _listening(central, port),
                             timeout=timeout, every=0.1)
            return port
        except _NotRunning as e:
            error = e
            central.run("systemctl", "reset-failed", REMOTE_UNIT, check=False)  # frees the transient unit's name
    raise RuntimeError("systemd-journal-remote listened on none of %d ports; the last: %s" % (attempts, error))


class _NotRunning(Exception):
    pass


def _listening(central: Lab, port: int) -> bool:
    """journal-remote itself listens on `port`: a listening socket on it is one of its descriptors.
    Not a connection from here: the network is this machine's, so another program holding the
    port would answer it."""
    state = central.run("systemctl", "is-active", REMOTE_UNIT, check=False, record=False).stdout.strip()
    if state not in ("active", "activating"):
        raise _NotRunning("systemd-journal-remote is %s:\n%s" % (state, unit_log(central, REMOTE_UNIT)))
    pid = central.run("systemctl", "show", "-p", "MainPID", "--value", REMOTE_UNIT, record=False).stdout.strip()
    fds = "/proc/%d/root/proc/%s/fd" % (central.leader, pid)  # the lab's own /proc, seen from here
    try:
        own = {os.readlink(os.path.join(fds, fd)) for fd in os.listdir(fds)}
    except OSError:  # not started yet, or just gone
        return False
    return any("socket:[%s]" % inode in own for inode in _listeners(port))


def _listeners(port: int) -> list:
    """Inodes of the sockets listening on TCP `port` of this network namespace (the labs' too)."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    # local_address is ADDR:PORT in hex; state 0A is LISTEN; the tenth column is the inode
    return [r[9] for r in rows if int(r[1].split(":")[1], 16) == port and r[3] == "0A"]


def start_upload(client: Lab, port: int) -> None:
    """systemd-journal-upload in `client`: its whole journal so far, then each new entry, to the
    central's journal-remote.  It keeps its cursor as the packaged unit does (--save-state)."""
    client.run("systemd-run", "--unit=" + UPLOAD_UNIT, "-p", "StateDirectory=ua-journal-upload", UPLOAD_BIN,
               "--url=http://127.0.0.1:%d" % port, "--save-state=/var/lib/ua-journal-upload/state")


def rename(lab: Lab, hostname: str, timeout: float = 30) -> None:
    """Give the running lab `hostname` (nspawn named it after the lab; the overlay's /etc/hostname
    is this machine's) and wait until journald stamps new entries with it."""
    lab.write("/etc/hostname", hostname + "\n")
    lab.run("hostname", hostname)

    def stamped() -> bool:
        # a new probe each time: one logged before journald saw the change keeps the old name
        lab.run("logger", "-t", MARK_TAG, "hostname probe", record=False)
        out = lab.run("journalctl", "-t", MARK_TAG, "-n", "1", "-o", "json", "--output-fields=_HOSTNAME",
                      check=False, record=False).stdout
        return bool(out.strip()) and json.loads(out.splitlines()[-1]).get("_HOSTNAME") == hostname
    lab.wait_for("journald stamping _HOSTNAME=%s" % hostname, stamped, timeout=timeout, every=0.2)


def start_loops(client: Client) -> None:
    for loop in client.loops:
        for path, text in loop.files.items():
            client.lab.write(path, text)
    client.lab.run("systemctl", "daemon-reload")
    for loop in client.loops:
        client.lab.run("systemctl", "start", "--no-block", *loop.start)


def events(lab: Lab, loop: Loop) -> int:
    """The loop unit's lines of one event in the client's own journal (not the central's copy)."""
    return scenarios.journal_count(lab, loop.needle, "-u", loop.unit)


def wait_for_loops(clients, timeout: float = 90) -> None:
    """Until every client's every loop has repeated `enough` times."""
    def enough() -> bool:
        return all(events(c.lab, loop) >= loop.enough for c in clients for loop in c.loops)
    clients[0].lab.wait_for("every client's loops", enough, timeout=timeout, every=1)


def mark(client: Client, what: str) -> str:
    """Log a marker on the client (the text, unique to it): its arrival on the central means
    everything the client logged before it arrived too."""
    marker = "%s on %s" % (what, client.machine_id)
    client.lab.run("logger", "-t", MARK_TAG, marker)
    return marker


def stop_loops(client: Client) -> str:
    """Stop the client's loops, count their events, log the marker; the marker's text."""
    for loop in client.loops:
        client.lab.run("systemctl", "stop", *loop.start, loop.unit, check=False)
    client.lab.run("journalctl", "--sync")
    client.counts = {loop.unit: events(client.lab, loop) for loop in client.loops}
    return mark(client, "loops stopped")


def remote_journal(central: Lab, *args: str) -> str:
    return central.run("journalctl", "-D", REMOTE_DIR, "--no-pager", *args, check=False, record=False).stdout


def remote_machine_ids(central: Lab) -> set:
    return set(remote_journal(central, "-F", "_MACHINE_ID").split())


def remote_values(central: Lab, name: str, *matches: str) -> set:
    """The values field `name` takes in the central's entries that `matches` select (`journalctl -F`
    lists a field's values in the whole journal, whatever the matches)."""
    out = remote_journal(central, *matches, "-o", "json", "--output-fields=" + name)
    return {json.loads(line).get(name) for line in out.splitlines() if line.strip()} - {None}


def wait_delivered(central: Lab, clients, markers, timeout: float = 60) -> float:
    """Until the central's directory holds every marker; the seconds it took.  An uploader that
    stopped fails the wait at once, with what it logged."""
    t0 = time.monotonic()

    def arrived() -> bool:
        for c in clients:
            state = c.lab.run("systemctl", "is-active", UPLOAD_UNIT, check=False, record=False).stdout.strip()
            if state != "active":
                raise RuntimeError("systemd-journal-upload on %s is %s:\n%s" % (c.hostname, state,
                                                                                 unit_log(c.lab, UPLOAD_UNIT)))
        got = remote_journal(central, "-t", MARK_TAG, "-o", "cat")
        return all(m in got.splitlines() for m in markers)
    central.wait_for("every client's marker on the central", arrived, timeout=timeout, every=0.2)
    return time.monotonic() - t0


def unit_log(lab: Lab, unit: str) -> str:
    return lab.run("journalctl", "-u", unit, "--no-pager", "-n", "30", check=False, record=False).stdout


def du(path) -> int:
    """Bytes the files under `path` take on disk (a journal file grows in preallocated steps, so
    this is not the size of its entries)."""
    total = 0
    for p in sorted(path.rglob("*")):
        if p.is_file():
            total += p.stat().st_blocks * 512
    return total
