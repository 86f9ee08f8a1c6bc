"""Scenarios installed into a booted lab: the seed investigation's three loops and healthy controls.

The periods are parameters: the evidence recorder runs the seed's own rhythm for minutes
(RestartSec=5, a client every 5 s, logrotate every 30 s), the lab tests and the demo a faster one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from unitaudit_lab.host import log
from unitaudit_lab.machine import Lab


@dataclass(frozen=True)
class Periods:
    restart_sec: int  # RestartSec= of deepin-anything-monitor.service
    client_every: int  # seconds between the Avahi client's calls
    timer_every: int  # seconds between logrotate.timer runs


RECORDING = Periods(restart_sec=5, client_every=5, timer_every=30)  # examples/ were recorded with these
# Tests and the demo: fast, but RestartSec=2 keeps 5 starts over 10 s, so the default start rate
# limit (5 per 10 s) never trips, as on the seed machine (LAB.md: NRestarts 13 in 30 s).
FAST = Periods(restart_sec=2, client_every=2, timer_every=5)

ANYTHING_MONITOR = """\
[Unit]
Description=Deepin anything service

[Service]
Type=simple
ExecStartPre=/usr/sbin/modprobe vfs_monitor
ExecStart=/bin/sleep infinity
ExecStopPost=/usr/sbin/rmmod vfs_monitor
Restart=always
RestartSec={restart_sec}

[Install]
WantedBy=multi-user.target
"""

SYSTEM_MONITOR_SIM = """\
# Lab stand-in for deepin-system-monitor: as user deepin, asks org.freedesktop.Avahi for its version
# every {client_every} s. /usr/local/bin/deepin-system-monitor is a symlink to /usr/bin/busctl, so the process
# dbus-daemon names in "requested by" is called deepin-system-monitor.
[Unit]
Description=deepin-system-monitor (lab simulation: Avahi client polling every {client_every} s)
After=dbus.service

[Service]
Type=simple
User=deepin
Environment=PATH=/usr/local/bin:/usr/bin:/bin
ExecStart=/bin/bash -c 'while :; do deepin-system-monitor call org.freedesktop.Avahi / org.freedesktop.Avahi.Server GetVersionString; sleep {client_every}; done'

[Install]
WantedBy=multi-user.target
"""

LOGROTATE_TIMER_DROPIN = """\
# Lab only: plays the seed machine's (vendor) hourly logrotate.timer, every {timer_every} s.
# RandomizedDelaySec=0: Debian 13's logrotate.timer adds up to an hour to every run.
[Timer]
OnCalendar=
OnCalendar=*:*:0/{timer_every}
AccuracySec=1s
RandomizedDelaySec=0
"""

# line 8 is "} extra": logrotate 3.21 says "error: clink-agent:8, unexpected text after }"
CLINK_AGENT_BROKEN = """\
/var/log/clink-agent/*.log {
    daily
    rotate 7
    missingok
    notifempty
    compress
    copytruncate
} extra
"""

CLINK_AGENT_VALID = CLINK_AGENT_BROKEN.replace("} extra\n", "}\n")

# rotated file lives in a chmod 777 directory: "error: skipping ... insecure permissions ..."
MIRROR_PRINTER = """\
/var/log/mirror/printer/printer.log {
    weekly
    rotate 4
    missingok
    notifempty
}
"""

FLAKY_ONCE = """\
[Unit]
Description=Control: oneshot that fails on its first run and succeeds on the next

[Service]
Type=oneshot
StateDirectory=flaky-once
ExecStart=/bin/sh -c 'if [ -e /var/lib/flaky-once/first-run-done ]; then echo "flaky-once: second run, all good"; else touch /var/lib/flaky-once/first-run-done; echo "flaky-once: first run fails (cache not ready)" >&2; exit 1; fi'
"""

HEALTHY_DAEMON = """\
[Unit]
Description=Control: healthy long-running service (restarted by hand)

[Service]
Type=simple
ExecStart=/bin/sleep infinity
Restart=on-failure
RestartSec=5
"""

FAIL_ONCE = """\
[Unit]
Description=Control: ordinary unit that fails exactly once, no restart

[Service]
Type=simple
ExecStart=/bin/sh -c 'echo "fail-once: /etc/fail-once.conf missing" >&2; exit 3'
Restart=no
"""


def choose_uid(lab: Lab) -> int:
    """uid 1000 as on the seed machine if free in the container, else the first free uid above."""
    uid = 1000
    while lab.run("getent", "passwd", str(uid), check=False, record=False).returncode == 0:
        uid += 1
    return uid


def install(lab: Lab, installed: dict[str, str], files: dict[str, str]) -> None:
    """Write each file into the container and remember it for the MANIFEST's units/ copy."""
    for path, text in files.items():
        lab.write(path, text)
        installed[path] = text


def setup_seed_loops(lab: Lab, installed: dict[str, str], notes: list[str], periods: Periods = RECORDING) -> None:
    # (a) the Avahi client runs as a non-root user
    uid = choose_uid(lab)
    lab.run("useradd", "-m", "-u", str(uid), "-s", "/bin/bash", "deepin")
    if uid != 1000:
        notes.append(f"uid 1000 is taken on this machine (the overlay shows the host's users), so user "
                     f"`deepin` got uid {uid}; dbus-daemon logs `uid={uid}` where the seed has `uid=1000`.")
    lab.run("ln", "-s", "/usr/bin/busctl", "/usr/local/bin/deepin-system-monitor")

    files = {
        "/etc/systemd/system/deepin-anything-monitor.service": ANYTHING_MONITOR.format(**vars(periods)),
        "/etc/systemd/system/deepin-system-monitor-sim.service": SYSTEM_MONITOR_SIM.format(**vars(periods)),
        "/etc/systemd/system/logrotate.timer.d/unitaudit-lab.conf": LOGROTATE_TIMER_DROPIN.format(**vars(periods)),
        "/etc/logrotate.d/clink-agent": CLINK_AGENT_BROKEN,
        "/etc/logrotate.d/mirror-printer": MIRROR_PRINTER,
    }
    install(lab, installed, files)

    # (c) log files: a secure directory for clink-agent, a world-writable one for the printer mirror
    lab.run("mkdir", "-p", "/var/log/clink-agent", "/var/log/mirror/printer")
    lab.run("chmod", "755", "/var/log/clink-agent", "/var/log/mirror")
    lab.run("chmod", "777", "/var/log/mirror/printer")
    lab.write("/var/log/clink-agent/clink-agent.log", "clink-agent started\n", 0o640)
    lab.write("/var/log/mirror/printer/printer.log", "printer mirror started\n", 0o644)

    # (a) the missing alias
    before = lab.run("systemctl", "is-enabled", "avahi-daemon.service", check=False).stdout.strip()
    lab.run("rm", "/etc/systemd/system/dbus-org.freedesktop.Avahi.service")
    lab.run("systemctl", "daemon-reload")
    lab.run("systemctl", "stop", "avahi-daemon.socket", "avahi-daemon.service")
    after = lab.run("systemctl", "is-enabled", "avahi-daemon.service", check=False).stdout.strip()
    notes.append(f"`systemctl is-enabled avahi-daemon.service`: `{before}` before removing the alias, "
                 f"`{after}` after (the alias is gone, the unit still reports enabled).")

    # (b) the restart loop
    lab.run("systemctl", "enable", "deepin-anything-monitor.service")
    lab.run("systemctl", "start", "--no-block", "deepin-anything-monitor.service")
    # (a) the client
    lab.run("systemctl", "enable", "--now", "deepin-system-monitor-sim.service")
    # (c) the timer
    lab.run("systemctl", "restart", "logrotate.timer")
    nxt = lab.run("systemctl", "show", "-p", "NextElapseUSecRealtime,TimersCalendar", "logrotate.timer",
                  check=False).stdout.strip().replace("\n", "; ")
    notes.append(f"logrotate.timer after the drop-in: {nxt}")
    notes.append("Debian's logrotate.service (ConditionACPower=true, sandboxing) was used unchanged: in the "
                 "container the condition holds and the sandbox does not get in the way; it fails with "
                 "result `exit-code` on the two configuration errors alone. No drop-in for logrotate.service.")


def setup_controls(lab: Lab, installed: dict[str, str], notes: list[str]) -> None:
    files = {
        "/etc/systemd/system/flaky-once.service": FLAKY_ONCE,
        "/etc/systemd/system/healthy-daemon.service": HEALTHY_DAEMON,
        "/etc/systemd/system/fail-once.service": FAIL_ONCE,
        "/etc/logrotate.d/clink-agent": CLINK_AGENT_VALID,
    }
    install(lab, installed, files)
    lab.run("mkdir", "-p", "/var/log/clink-agent")
    lab.run("chmod", "755", "/var/log/clink-agent")
    lab.write("/var/log/clink-agent/clink-agent.log", "clink-agent started\n", 0o640)
    lab.run("systemctl", "daemon-reload")
    lab.run("systemctl", "disable", "--now", "avahi-daemon.service", "avahi-daemon.socket")
    st = lab.run("systemctl", "is-enabled", "avahi-daemon.service", check=False).stdout.strip()
    notes.append(f"avahi-daemon disabled on purpose (`systemctl disable --now avahi-daemon.service "
                 f"avahi-daemon.socket`): is-enabled = `{st}`; no client calls org.freedesktop.Avahi.")
    notes.append("logrotate.timer left as shipped (daily); logrotate.service started by hand 3 times "
                 "with a valid config and secure directories.")


def controls_timeline(lab: Lab, t0: float, notes: list[str]) -> None:
    """Actions at fixed offsets (seconds) from the start of the recording window."""
    steps = [
        (0, ("systemctl", "start", "healthy-daemon.service")),
        (3, ("systemctl", "start", "fail-once.service")),
        (5, ("systemctl", "start", "flaky-once.service")),      # fails (first run)
        (7, ("systemctl", "start", "logrotate.service")),       # run 1
        (10, ("systemctl", "restart", "healthy-daemon.service")),  # manual restart 1
        (15, ("systemctl", "start", "flaky-once.service")),     # succeeds
        (20, ("systemctl", "restart", "healthy-daemon.service")),  # manual restart 2
        (27, ("systemctl", "start", "logrotate.service")),      # run 2
        (30, ("systemctl", "restart", "healthy-daemon.service")),  # manual restart 3
        (47, ("systemctl", "start", "logrotate.service")),      # run 3
    ]
    for offset, cmd in steps:
        sleep_until(t0 + offset)
        r = lab.run(*cmd, check=False)
        notes.append(f"t+{offset:>2}s `{' '.join(cmd)}` -> rc {r.returncode}")
        log(f"controls t+{offset}s {' '.join(cmd)} -> rc {r.returncode}")


def sleep_until(t: float) -> None:
    while True:
        left = t - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 1.0))



def run_controls(lab: Lab, caller_calls: int = 6) -> None:
    """The controls' timeline without the recorder's fixed offsets: each step waits for the last.
    Ends with a caller asking for the disabled Avahi service `caller_calls` times: it should be
    told the service is disabled, not have the alias recreated behind the admin's back."""
    steps = [
        ("systemctl", "start", "healthy-daemon.service"),
        ("systemctl", "start", "fail-once.service"),
        ("systemctl", "start", "flaky-once.service"),  # fails (first run)
        ("systemctl", "start", "logrotate.service"),  # good run 1
        ("systemctl", "restart", "healthy-daemon.service"),  # manual restart 1
        ("systemctl", "start", "flaky-once.service"),  # succeeds
        ("systemctl", "restart", "healthy-daemon.service"),  # manual restart 2
        ("systemctl", "start", "logrotate.service"),  # good run 2
        ("systemctl", "restart", "healthy-daemon.service"),  # manual restart 3
        ("systemctl", "start", "logrotate.service"),  # good run 3
    ]
    for cmd in steps:
        lab.run(*cmd, check=False)
    for _ in range(caller_calls):
        lab.run("busctl", "call", "org.freedesktop.Avahi", "/", "org.freedesktop.Avahi.Server",
                "GetVersionString", check=False)
    lab.run("journalctl", "--sync", check=False)


def journal_count(lab: Lab, needle: str, *match: str) -> int:
    """Lines of the container's journal (optionally matched) that contain `needle`."""
    out = lab.run("journalctl", "--no-pager", "-o", "cat", *match, check=False, record=False).stdout
    return sum(1 for line in out.splitlines() if needle in line)


def wait_for_seed_loops(lab: Lab, restarts: int = 6, activations: int = 6, logrotate_failures: int = 3,
                        timeout: float = 120) -> None:
    """Until each loop has repeated often enough for the default thresholds to call it a loop."""
    def enough() -> bool:
        n = lab.run("systemctl", "show", "-p", "NRestarts", "--value", "deepin-anything-monitor.service",
                    check=False, record=False).stdout.strip()
        return (int(n or 0) >= restarts
                and journal_count(lab, "Activation via systemd failed", "_COMM=dbus-daemon") >= activations
                and journal_count(lab, "Failed with result", "-u", "logrotate.service") >= logrotate_failures)

    lab.wait_for("%d automatic restarts, %d activation failures, %d failed logrotate runs"
                 % (restarts, activations, logrotate_failures), enough, timeout=timeout, every=1)
