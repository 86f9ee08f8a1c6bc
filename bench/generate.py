#!/usr/bin/env python3
"""Generate the unitaudit benchmark workload: a UOS-like desktop, 7 days, 1,000,000 log entries.

The workload reproduces the three loops of the seed investigation
(shared/reference/seed-kernfs-node-cache-investigation.txt) buried in ordinary desktop noise:

* dbus-daemon failing to activate the missing alias dbus-org.freedesktop.Avahi.service every ~5 s
  for the whole 7 days (two lines per attempt: "Activating via systemd" + "Activation via systemd
  failed");
* deepin-anything-monitor.service looping on a failing ExecStartPre (modprobe vfs_monitor) with
  RestartSec=10 during the last ~24 h, after a reboot into an upgraded kernel the module was not
  built for (9 lines per cycle, as systemd 252 logs them);
* logrotate.service started hourly by its timer and failing on every run.

Everything else is noise from ~35 identifiers of a Deepin/UOS desktop, which never contains the loop
patterns (no "Activation via systemd failed", no "Scheduled restart job", no "Failed with result",
no failed "process exited" lines).

Outputs in --out DIR:
  syslog                   rsyslog traditional format, one entry per line, local time (--utc-offset)
  syslog-rfc3339           the same entries in rsyslog's RSYSLOG_FileFormat (RFC 3339 timestamps: local
                           time with microseconds and the UTC offset, 2024-01-18T10:36:02.003130+08:00);
                           --no-rfc3339 leaves it out
  journal/system.journal   real journal files: journal export format piped into systemd-journal-remote,
  journal/system@*.journal one run per file. system.journal holds the newest --journal-tail-entries;
                           older entries go to archived files, because journal-remote 252 caps a file
                           at 128 MiB and duplicates an entry when it rotates by itself
  meta.json                time range, counts per category and the expected finding counts (whole
                           workload, and per journal file)

Streaming: entries are produced by per-source generators merged with heapq.merge and written as
they come, so memory stays constant whatever --entries is. Deterministic for a given --seed (the
journal file's internal IDs differ between runs, its entries do not; meta.json carries the sha256
and size of each syslog file).

Python 3.9+, stdlib only.
"""
import argparse
import bisect
import hashlib
import heapq
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

US = 1000000
HOUR = 3600 * US
MIN = 60 * US
DAY = 86400 * US

HOSTNAME = "uos-pc"
JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"

# End of the window: the moment the seed's engineer ran `uptime` (2024-01-25 10:36:02 CST).
DEFAULT_END_LOCAL = "2024-01-25T10:36:02"

# MESSAGE_IDs (systemd catalog, see shared/reference/systemd-facts.md)
MID_STARTING = "7d4958e842da4a758f6c1cdc7b36dcc5"
MID_STARTED = "39f53479d3a045ac8e11786248231fbf"
MID_STOPPING = "de5b426a63be47a7b6ac3eaac82e2f6f"
MID_STOPPED = "9d1aaa27d60140bd96365438aad20286"
MID_FAILED = "be02cf6855d2428ba40df7e9d022f03d"
MID_RESULT = "d9b373ed55a64feb8242e02dbe79a49c"
MID_EXITED = "98e322203f7a4ed290d09fe03c09fe15"
MID_RESTART = "5eb03494b6584870a536b337290809b3"
MID_SUCCESS = "7ad2d189f7e94e70a38c781354912448"
MID_SESSION_START = "8d45620c1a4348dbb17410da57c60c66"
MID_SESSION_STOP = "3354939424b4456d9802ca8333ed424a"
MID_JOURNAL_START = "f77379a8490b408bbe5f6940505a777b"
MID_JOURNAL_STOP = "d93fb3c9c24d451a97cea615ce59c00b"
MID_SYSTEM_START = "b07a249cd024414a82dd00cd181378ff"
MID_SHUTDOWN = "98268866d1d54a499c4e98921d93bc40"

AVAHI_UNIT = "dbus-org.freedesktop.Avahi.service"
AVAHI_NAME = "org.freedesktop.Avahi"
DEEPIN_UNIT = "deepin-anything-monitor.service"
DEEPIN_DESC = "Deepin anything service"
LOGROTATE_UNIT = "logrotate.service"
LOGROTATE_DESC = "Rotate log files"

KVER_OLD = "4.19.0-arm64-desktop"
KVER_NEW = "4.19.90-2305-arm64-desktop"

AVAHI_ACTIVATING = ("[system] Activating via systemd: service name='org.freedesktop.Avahi' "
                    "unit='dbus-org.freedesktop.Avahi.service' requested by '%s' "
                    "(uid=1000 pid=%d comm=\"deepin-system-m\")")
AVAHI_FAILED = ("[system] Activation via systemd failed for unit 'dbus-org.freedesktop.Avahi.service': "
                "Unit dbus-org.freedesktop.Avahi.service not found.")
LOGROTATE_SKIP = ("error: skipping \"%s\" because parent directory has insecure permissions (It's world "
                  "writable or writable by group which is not \"root\") Set \"su\" directive in config "
                  "file to tell logrotate which user/group should be used for rotation.")
# The six paths of the seed's `systemctl status logrotate.service`.
LOGROTATE_SKIP_PATHS = [
    "/var/log/apt/term.log",
    "/var/log/apt/history.log",
    "/var/log/mirror/printer/printer.log",
    "/var/log/cups/access_log",
    "/var/log/cups/error_log",
    "/var/log/mirror/ctyunInstall/ctyunInstall.log",
]

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def hexid(rng):
    return "%032x" % rng.getrandbits(128)


# ---------------------------------------------------------------------------------------------
# processes and boots


class Proc(object):
    """A process as journald sees it: the fixed (trusted and syslog) fields of its entries."""

    __slots__ = ("ident", "pid", "block", "prefix", "syslog_transport", "kernel")

    def __init__(self, boot, ident, pid, uid=0, gid=None, comm=None, exe=None, cmdline=None,
                 unit=None, slice_=None, cgroup=None, transport="syslog", facility=3,
                 invocation=None, user_unit=None, stream_id=None):
        self.ident = ident
        self.pid = pid
        self.kernel = transport == "kernel"
        self.syslog_transport = transport == "syslog"
        lines = []
        if self.kernel:
            lines.append("_TRANSPORT=kernel")
            lines.append("SYSLOG_FACILITY=0")
            lines.append("SYSLOG_IDENTIFIER=kernel")
            self.prefix = "kernel: "
        else:
            if gid is None:
                gid = uid
            if comm is None:
                comm = ident[:15]
            lines.append("_TRANSPORT=%s" % transport)
            lines.append("SYSLOG_FACILITY=%d" % facility)
            lines.append("SYSLOG_IDENTIFIER=%s" % ident)
            if transport == "syslog":
                lines.append("SYSLOG_PID=%d" % pid)
            if stream_id:
                lines.append("_STREAM_ID=%s" % stream_id)
            lines.append("_PID=%d" % pid)
            lines.append("_UID=%d" % uid)
            lines.append("_GID=%d" % gid)
            lines.append("_COMM=%s" % comm)
            if exe:
                lines.append("_EXE=%s" % exe)
            if cmdline:
                lines.append("_CMDLINE=%s" % cmdline)
            if unit:
                if slice_ is None:
                    slice_ = "system.slice" if unit.endswith(".service") else "user-%d.slice" % uid
                if cgroup is None:
                    if slice_ == "-.slice":
                        cgroup = "/" + unit
                    elif slice_.startswith("user-"):
                        cgroup = "/user.slice/%s/%s" % (slice_, unit)
                    else:
                        cgroup = "/%s/%s" % (slice_, unit)
                lines.append("_SYSTEMD_CGROUP=%s" % cgroup)
                lines.append("_SYSTEMD_UNIT=%s" % unit)
                lines.append("_SYSTEMD_SLICE=%s" % slice_)
                if unit.startswith("session-") and unit.endswith(".scope"):
                    lines.append("_SYSTEMD_SESSION=%s" % unit[len("session-"):-len(".scope")])
                if uid >= 1000 and slice_.startswith("user-"):
                    lines.append("_SYSTEMD_OWNER_UID=%d" % uid)
                if user_unit:
                    lines.append("_SYSTEMD_USER_UNIT=%s" % user_unit)
                if invocation:
                    lines.append("_SYSTEMD_INVOCATION_ID=%s" % invocation)
            self.prefix = "%s[%d]: " % (ident, pid)
        lines.append("_HOSTNAME=" + HOSTNAME)
        lines.append("_MACHINE_ID=" + boot.machine_id)
        self.block = "\n".join(dedupe(lines)) + "\n"


def dedupe(lines):
    seen = set()
    out = []
    for line in lines:
        if line not in seen:
            seen.add(line)
            out.append(line)
    return out


class Boot(object):
    def __init__(self, idx, rng, machine_id, start_us, shutdown_us, end_us, kver, fixed):
        self.idx = idx
        self.boot_id = hexid(rng)
        self.machine_id = machine_id
        self.start_us = start_us  # kernel starts (monotonic 0)
        self.shutdown_us = shutdown_us  # shutdown begins (None: still up at the end of the window)
        self.end_us = end_us  # last possible entry of this boot
        self.kver = kver
        self.steady_start = start_us + 60 * US
        self.steady_end = shutdown_us if shutdown_us is not None else end_us
        self.mono_offset = 1500000 + rng.randrange(0, 500000)  # firmware/boot loader before journal
        self._pid = 3400 + 37 * idx
        self._pid_rng = random.Random("%s:pids" % self.boot_id)
        self.invocations = {}
        self._job = 1
        f = fixed
        self.dbus_pid = f["dbus"]
        self.requester_pid = f["requester"]
        self.requester_name = f["bus_name"]
        self.procs = {}
        self.systemd = Proc(self, "systemd", 1, 0, comm="systemd", exe="/lib/systemd/systemd",
                            cmdline="/sbin/init splash", unit="init.scope", slice_="-.slice",
                            transport="journal", facility=3)
        self.kernel = Proc(self, "kernel", 0, transport="kernel")

    def mono(self, ts):
        return ts - self.start_us + self.mono_offset

    def alloc_pid(self):
        self._pid += 1 + self._pid_rng.randrange(0, 4)
        if self._pid >= 32768:  # pid_max of the seed's 4.19 arm64 kernel
            self._pid = 301 + self._pid_rng.randrange(0, 50)
        return self._pid

    def job(self):
        self._job += 1 + self._pid_rng.randrange(0, 3)
        return self._job

    def invocation(self, unit):
        inv = self.invocations.get(unit)
        if inv is None:
            inv = "%032x" % self._pid_rng.getrandbits(128)
            self.invocations[unit] = inv
        return inv


# A stream yields (ts_us, stream_index, seq, payload); payload = (category, boot, proc, priority,
# message, extra_fields). extra_fields is "" or "KEY=value\n..." lines.


class Stream(object):
    def __init__(self, index, category):
        self.index = index
        self.category = category
        self.seq = 0

    def item(self, ts, boot, proc, prio, msg, extra=""):
        self.seq += 1
        return (ts, self.index, self.seq, (self.category, boot, proc, prio, msg, extra))


def unit_status(unit, desc, fmt):
    if fmt == "combined":
        return "%s - %s" % (unit, desc)
    return desc


def sd_fields(unit, inv, mid=None, code=None, more=()):
    parts = []
    if code:
        parts.append("CODE_FILE=%s\nCODE_LINE=%d\nCODE_FUNC=%s" % code)
    if mid:
        parts.append("MESSAGE_ID=" + mid)
    parts.append("UNIT=" + unit)
    if inv:
        parts.append("INVOCATION_ID=" + inv)
    for k, v in more:
        parts.append("%s=%s" % (k, v))
    return "\n".join(parts) + "\n"


CODE_JOB = ("src/core/job.c", 768, "job_emit_start_message")
CODE_JOB_DONE = ("src/core/job.c", 598, "job_emit_done_message")
CODE_EXIT = ("src/core/unit.c", 5694, "unit_log_process_exit")
CODE_RESULT = ("src/core/unit.c", 5650, "unit_log_failure")
CODE_SUCCESS = ("src/core/unit.c", 5637, "unit_log_success")
CODE_RESTART = ("src/core/service.c", 2384, "service_enter_restart")


class SystemdLog(object):
    """Helpers for PID 1 lines of healthy and failing units."""

    def __init__(self, stream, fmt):
        self.s = stream
        self.fmt = fmt

    def starting(self, ts, boot, unit, desc, job, inv):
        return self.s.item(ts, boot, boot.systemd, 6, "Starting %s..." % unit_status(unit, desc, self.fmt),
                           sd_fields(unit, inv, MID_STARTING, CODE_JOB,
                                     (("JOB_ID", job), ("JOB_TYPE", "start"))))

    def started(self, ts, boot, unit, desc, job, inv, verb="Started"):
        return self.s.item(ts, boot, boot.systemd, 6, "%s %s." % (verb, unit_status(unit, desc, self.fmt)),
                           sd_fields(unit, inv, MID_STARTED, CODE_JOB_DONE,
                                     (("JOB_ID", job), ("JOB_TYPE", "start"), ("JOB_RESULT", "done"))))

    def stopping(self, ts, boot, unit, desc, job, inv):
        return self.s.item(ts, boot, boot.systemd, 6, "Stopping %s..." % unit_status(unit, desc, self.fmt),
                           sd_fields(unit, inv, MID_STOPPING, CODE_JOB,
                                     (("JOB_ID", job), ("JOB_TYPE", "stop"))))

    def stopped(self, ts, boot, unit, desc, job, inv, job_type="stop"):
        return self.s.item(ts, boot, boot.systemd, 6, "Stopped %s." % unit_status(unit, desc, self.fmt),
                           sd_fields(unit, inv, MID_STOPPED, CODE_JOB_DONE,
                                     (("JOB_ID", job), ("JOB_TYPE", job_type), ("JOB_RESULT", "done"))))

    def deactivated(self, ts, boot, unit, inv):
        return self.s.item(ts, boot, boot.systemd, 6, "%s: Deactivated successfully." % unit,
                           sd_fields(unit, inv, MID_SUCCESS, CODE_SUCCESS))

    def reached(self, ts, boot, target, desc, job):
        return self.s.item(ts, boot, boot.systemd, 6, "Reached target %s." % unit_status(target, desc, self.fmt),
                           sd_fields(target, None, MID_STARTED, CODE_JOB_DONE,
                                     (("JOB_ID", job), ("JOB_TYPE", "start"), ("JOB_RESULT", "done"))))

    def plain(self, ts, boot, msg, prio=6, unit=None, mid=None):
        extra = ""
        if unit or mid:
            extra = ("MESSAGE_ID=%s\n" % mid if mid else "") + ("UNIT=%s\n" % unit if unit else "")
        return self.s.item(ts, boot, boot.systemd, prio, msg, extra)


# ---------------------------------------------------------------------------------------------
# the three loops


def avahi_stream(idx, boots, seed):
    """dbus-daemon: every ~5 s, Activating + Activation failed for the missing Avahi alias."""
    s = Stream(idx, "avahi_activation_loop")
    rng = random.Random("%s:avahi" % seed)
    for boot in boots:
        dbus = boot.procs["dbus-daemon"]
        activating = AVAHI_ACTIVATING % (boot.requester_name, boot.requester_pid)
        t = boot.start_us + 44 * US + rng.randrange(0, US)  # deepin-system-monitor starts after login
        stop = boot.steady_end
        while True:
            t_fail = t + 250 + rng.randrange(0, 1500)
            if t_fail >= stop:
                break
            yield s.item(t, boot, dbus, 6, activating)
            yield s.item(t_fail, boot, dbus, 6, AVAHI_FAILED)
            t += 5 * US + rng.randrange(-20000, 20001)


def deepin_stream(idx, boot, seed, fmt, stop):
    """deepin-anything-monitor.service: ExecStartPre=modprobe vfs_monitor fails, RestartSec=10."""
    s = Stream(idx, "deepin_restart_loop")
    sd = SystemdLog(s, fmt)
    rng = random.Random("%s:deepin" % seed)
    unit = DEEPIN_UNIT
    modmsg = "modprobe: FATAL: Module vfs_monitor not found in directory /lib/modules/%s" % boot.kver
    rmmsg = "rmmod: ERROR: Module vfs_monitor is not currently loaded"
    t = boot.start_us + 2800000 + rng.randrange(0, 300000)  # early in boot: sysinit.target
    job = boot.job()
    n = 0
    while True:
        inv = hexid(rng)
        t_mod = t + 4000 + rng.randrange(0, 9000)
        t_pre = t_mod + 300 + rng.randrange(0, 700)
        t_rm = t_pre + 2500 + rng.randrange(0, 5000)
        t_post = t_rm + 300 + rng.randrange(0, 700)
        t_res = t_post + 50 + rng.randrange(0, 150)
        t_fail = t_res + 20 + rng.randrange(0, 80)
        # RestartSec=10 counts from entering auto-restart (right after the failure)
        t_sched = t_fail + 10 * US + rng.randrange(0, 3000)
        t_stopped = t_sched + 20 + rng.randrange(0, 80)
        t_next = t_stopped + 30 + rng.randrange(0, 200)
        if t_fail >= stop:
            break
        mod = Proc(boot, "modprobe", boot.alloc_pid(), 0, comm="modprobe", exe="/usr/bin/kmod",
                   cmdline="/usr/sbin/modprobe vfs_monitor", unit=unit, transport="stdout", facility=3,
                   invocation=inv)
        rm = Proc(boot, "rmmod", boot.alloc_pid(), 0, comm="rmmod", exe="/usr/bin/kmod",
                  cmdline="/usr/sbin/rmmod vfs_monitor", unit=unit, transport="stdout", facility=3,
                  invocation=inv)
        yield sd.starting(t, boot, unit, DEEPIN_DESC, job, inv)
        yield s.item(t_mod, boot, mod, 6, modmsg)
        yield s.item(t_pre, boot, boot.systemd, 5,
                     "%s: Control process exited, code=exited, status=1/FAILURE" % unit,
                     sd_fields(unit, inv, MID_EXITED, CODE_EXIT,
                               (("EXIT_CODE", "exited"), ("EXIT_STATUS", 1), ("COMMAND", "ExecStartPre"))))
        yield s.item(t_rm, boot, rm, 6, rmmsg)
        yield s.item(t_post, boot, boot.systemd, 5,
                     "%s: Control process exited, code=exited, status=1/FAILURE" % unit,
                     sd_fields(unit, inv, MID_EXITED, CODE_EXIT,
                               (("EXIT_CODE", "exited"), ("EXIT_STATUS", 1), ("COMMAND", "ExecStopPost"))))
        yield s.item(t_res, boot, boot.systemd, 4, "%s: Failed with result 'exit-code'." % unit,
                     sd_fields(unit, inv, MID_RESULT, CODE_RESULT, (("UNIT_RESULT", "exit-code"),)))
        yield s.item(t_fail, boot, boot.systemd, 3,
                     "Failed to start %s." % unit_status(unit, DEEPIN_DESC, fmt),
                     sd_fields(unit, inv, MID_FAILED, CODE_JOB_DONE,
                               (("JOB_ID", job), ("JOB_TYPE", "start"), ("JOB_RESULT", "failed"))))
        if t_stopped >= stop:
            break
        n += 1
        job = boot.job()
        yield s.item(t_sched, boot, boot.systemd, 6,
                     "%s: Scheduled restart job, restart counter is at %d." % (unit, n),
                     sd_fields(unit, inv, MID_RESTART, CODE_RESTART, (("N_RESTARTS", n),)))
        yield sd.stopped(t_stopped, boot, unit, DEEPIN_DESC, job, inv, job_type="restart")
        t = t_next


def logrotate_stream(idx, boots, seed, fmt, offset_us):
    """logrotate.service, hourly timer (OnCalendar=hourly, AccuracySec=1min), fails every run."""
    s = Stream(idx, "logrotate_timer_failure")
    sd = SystemdLog(s, fmt)
    rng = random.Random("%s:logrotate" % seed)
    unit = LOGROTATE_UNIT
    for boot in boots:
        # first full local hour after the boot finished
        t_hour = ((boot.steady_start + offset_us) // HOUR + 1) * HOUR - offset_us
        while True:
            t = t_hour + 500000 + rng.randrange(0, 40 * US)
            t_end = t + 800000 + rng.randrange(0, 700000)
            if t_end + 10000 >= boot.steady_end:
                break
            inv = hexid(rng)
            job = boot.job()
            pid = boot.alloc_pid()
            lr = Proc(boot, "logrotate", pid, 0, comm="logrotate", exe="/usr/sbin/logrotate",
                      cmdline="/usr/sbin/logrotate /etc/logrotate.conf", unit=unit, transport="stdout",
                      invocation=inv)
            yield sd.starting(t, boot, unit, LOGROTATE_DESC, job, inv)
            tt = t + 40000 + rng.randrange(0, 20000)
            yield s.item(tt, boot, lr, 6, "error: clink-agent:8, unexpected text after }")
            for path in LOGROTATE_SKIP_PATHS:
                tt += 1000 + rng.randrange(0, 30000)
                yield s.item(tt, boot, lr, 6, LOGROTATE_SKIP % path)
            yield s.item(t_end, boot, boot.systemd, 5,
                         "%s: Main process exited, code=exited, status=1/FAILURE" % unit,
                         sd_fields(unit, inv, MID_EXITED, CODE_EXIT,
                                   (("EXIT_CODE", "exited"), ("EXIT_STATUS", 1), ("COMMAND", "ExecStart"))))
            yield s.item(t_end + 60 + rng.randrange(0, 100), boot, boot.systemd, 4,
                         "%s: Failed with result 'exit-code'." % unit,
                         sd_fields(unit, inv, MID_RESULT, CODE_RESULT, (("UNIT_RESULT", "exit-code"),)))
            yield s.item(t_end + 200 + rng.randrange(0, 100), boot, boot.systemd, 3,
                         "Failed to start %s." % unit_status(unit, LOGROTATE_DESC, fmt),
                         sd_fields(unit, inv, MID_FAILED, CODE_JOB_DONE,
                                   (("JOB_ID", job), ("JOB_TYPE", "start"), ("JOB_RESULT", "failed"))))
            t_hour += HOUR


# ---------------------------------------------------------------------------------------------
# healthy periodic units (negative controls for the timer detector)


def periodic_stream(idx, boots, seed, fmt, offset_us, name, period_us, phase_us, jitter_us, unit, desc,
                    body, hours=None):
    """A timer-activated oneshot that succeeds every run: Starting, body lines, Deactivated, Finished."""
    s = Stream(idx, "healthy_timers")
    sd = SystemdLog(s, fmt)
    rng = random.Random("%s:%s" % (seed, name))
    for boot in boots:
        base = boot.steady_start + offset_us
        t_slot = (base // period_us + 1) * period_us + phase_us - offset_us
        while True:
            t = t_slot + rng.randrange(0, jitter_us + 1)
            if hours is not None and ((t_slot + offset_us) // HOUR) % 24 not in hours:
                t_slot += period_us
                if t_slot >= boot.steady_end:
                    break
                continue
            if t + 10 * US >= boot.steady_end:
                break
            inv = hexid(rng)
            job = boot.job()
            yield sd.starting(t, boot, unit, desc, job, inv)
            tt = t
            lines = body(rng, boot, inv) if body else []
            for dt, proc, prio, msg in lines:
                tt += dt
                yield s.item(tt, boot, proc, prio, msg)
            tt += 1000 + rng.randrange(0, 200000)
            yield sd.deactivated(tt, boot, unit, inv)
            yield sd.started(tt + 150, boot, unit, desc, job, inv, verb="Finished")
            t_slot += period_us


def sysstat_body(rng, boot, inv):
    return []


def anacron_body(rng, boot, inv):
    p = Proc(boot, "anacron", boot.alloc_pid(), 0, comm="anacron", exe="/usr/sbin/anacron",
             cmdline="/usr/sbin/anacron -d -q", unit="anacron.service", transport="syslog", facility=9,
             invocation=inv)
    day = datetime.fromtimestamp(boot.start_us // US, timezone.utc).strftime("%Y-%m-%d")
    return [(2000, p, 6, "Anacron 2.3 started on %s" % day),
            (1500, p, 6, "Normal exit (0 jobs run)")]


def apt_body(rng, boot, inv):
    return []


def mandb_body(rng, boot, inv):
    return []


def cron_stream(idx, boots, seed, offset_us):
    """CRON: /etc/crontab's hourly run-parts at :17 (3 lines), healthy."""
    s = Stream(idx, "healthy_timers")
    rng = random.Random("%s:cron" % seed)
    for boot in boots:
        base = boot.steady_start + offset_us
        t_slot = (base // HOUR + 1) * HOUR + 17 * MIN - offset_us
        while t_slot + 5 * US < boot.steady_end:
            t = t_slot + rng.randrange(0, 900000)
            pid = boot.alloc_pid()
            p = Proc(boot, "CRON", pid, 0, comm="cron", exe="/usr/sbin/cron", cmdline="/usr/sbin/CRON -f",
                     unit="cron.service", transport="syslog", facility=10)
            p2 = Proc(boot, "CRON", pid + 1, 0, comm="cron", exe="/usr/sbin/cron",
                      cmdline="/usr/sbin/CRON -f", unit="cron.service", transport="syslog", facility=9)
            yield s.item(t, boot, p, 6, "pam_unix(cron:session): session opened for user root by (uid=0)")
            yield s.item(t + 1200, boot, p2, 6, "(root) CMD (   cd / && run-parts --report /etc/cron.hourly)")
            yield s.item(t + 25000 + rng.randrange(0, 20000), boot, p, 6,
                         "pam_unix(cron:session): session closed for user root")
            t_slot += HOUR


# ---------------------------------------------------------------------------------------------
# boot and shutdown bursts

BOOT_UNITS = [
    ("systemd-journald.service", "Journal Service", "started"),
    ("systemd-udevd.service", "Rule-based Manager for Device Events and Files", "started"),
    ("systemd-remount-fs.service", "Remount Root and Kernel File Systems", "finished"),
    ("systemd-sysctl.service", "Apply Kernel Variables", "finished"),
    ("systemd-random-seed.service", "Load/Save Random Seed", "finished"),
    ("systemd-udev-trigger.service", "Coldplug All udev Devices", "finished"),
    ("keyboard-setup.service", "Set the console keyboard layout", "finished"),
    ("systemd-tmpfiles-setup.service", "Create Volatile Files and Directories", "finished"),
    ("systemd-timesyncd.service", "Network Time Synchronization", "started"),
    ("systemd-update-utmp.service", "Update UTMP about System Boot/Shutdown", "finished"),
    ("dbus.service", "D-Bus System Message Bus", "started"),
    ("cron.service", "Regular background program processing daemon", "started"),
    ("rsyslog.service", "System Logging Service", "started"),
    ("systemd-logind.service", "Login Service", "started"),
    ("NetworkManager.service", "Network Manager", "started"),
    ("wpa_supplicant.service", "WPA supplicant", "started"),
    ("bluetooth.service", "Bluetooth service", "started"),
    ("accounts-daemon.service", "Accounts Service", "started"),
    ("polkit.service", "Authorization Manager", "started"),
    ("udisks2.service", "Disk Manager", "started"),
    ("ModemManager.service", "Modem Manager", "started"),
    ("cups.service", "CUPS Scheduler", "started"),
    ("dde-system-daemon.service", "Deepin system daemon", "started"),
    ("lastore-daemon.service", "Deepin Lastore Daemon", "started"),
    ("upower.service", "Daemon for power management", "started"),
    ("rtkit-daemon.service", "RealtimeKit Scheduling Policy Service", "started"),
    ("lightdm.service", "Light Display Manager", "started"),
    ("user-runtime-dir@1000.service", "User Runtime Directory /run/user/1000", "finished"),
    ("user@1000.service", "User Manager for UID 1000", "started"),
]
BOOT_TARGETS = [
    ("local-fs.target", "Local File Systems"), ("sysinit.target", "System Initialization"),
    ("sockets.target", "Sockets"), ("basic.target", "Basic System"), ("network.target", "Network"),
    ("timers.target", "Timers"), ("multi-user.target", "Multi-User System"),
    ("graphical.target", "Graphical Interface"),
]

KERNEL_BOOT = [
    "Booting Linux on physical CPU 0x0000000000 [0x701f6632]",
    "Linux version %(kver)s (deepin@deepin-PC) (gcc version 8.3.0 (Uos 8.3.0.3-3+rebuild)) #6305 SMP Mon Jan 8 10:21:14 CST 2024",
    "Machine model: PHYTIUM LTD D2000",
    "efi: Getting EFI parameters from FDT:",
    "efi: EFI v2.70 by EDK II",
    "cma: Reserved 256 MiB at 0x00000000e4000000",
    "NUMA: No NUMA configuration found",
    "psci: probing for conduit method from DT.",
    "psci: PSCIv1.1 detected in firmware.",
    "random: get_random_bytes called from start_kernel+0x2b8/0x4a8 with crng_init=0",
    "percpu: Embedded 24 pages/cpu @(____ptrval____) s58904 r8192 d31208 u98304",
    "Detected PIPT I-cache on CPU0",
    "Built 1 zonelists, mobility grouping on.  Total pages: 4120576",
    "Kernel command line: BOOT_IMAGE=/vmlinuz-%(kver)s root=UUID=5b1f1a3e-6f0a-4d0e-9a61-3c0c3f6c2b11 ro splash quiet DEEPIN_GFXMODE=",
    "Memory: 16111872K/16744448K available (11196K kernel code, 1832K rwdata, 5440K rodata, 1472K init, 2543K bss, 370432K reserved, 262144K cma-reserved)",
    "SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=8, Nodes=1",
    "rcu: Hierarchical RCU implementation.",
    "GICv3: Distributor has no Range Selector support",
    "arch_timer: cp15 timer(s) running at 48.00MHz (phys).",
    "Console: colour dummy device 80x25",
    "pid_max: default: 32768 minimum: 301",
    "Mount-cache hash table entries: 32768 (order: 6, 262144 bytes)",
    "smp: Brought up 1 node, 8 CPUs",
    "SMP: Total of 8 processors activated.",
    "CPU features: detected: 32-bit EL0 Support",
    "devtmpfs: initialized",
    "NET: Registered protocol family 16",
    "pci 0000:00:00.0: [1db7:dc08] type 01 class 0x060400",
    "pci 0000:01:00.0: [1002:6779] type 00 class 0x030000",
    "SCSI subsystem initialized",
    "usbcore: registered new interface driver usbfs",
    "clocksource: Switched to clocksource arch_sys_counter",
    "NET: Registered protocol family 2",
    "Trying to unpack rootfs image as initramfs...",
    "Freeing initrd memory: 28764K",
    "Key type dns_resolver registered",
    "registered taskstats version 1",
    "Freeing unused kernel memory: 1472K",
    "ahci 0000:03:00.0: AHCI 0001.0301 32 slots 1 ports 6 Gbps 0x1 impl SATA mode",
    "ata1: SATA link up 6.0 Gbps (SStatus 133 SControl 300)",
    "sd 0:0:0:0: [sda] 1000215216 512-byte logical blocks: (512 GB/477 GiB)",
    " sda: sda1 sda2 sda3 sda4 sda5 sda6",
    "EXT4-fs (sda5): mounted filesystem with ordered data mode. Opts: (null)",
    "systemd[1]: Inserted module 'autofs4'",
    "EXT4-fs (sda5): re-mounted. Opts: errors=remount-ro",
    "radeon 0000:01:00.0: VRAM: 2048M 0x0000000000000000 - 0x000000007FFFFFFF (2048M used)",
    "[drm] Initialized radeon 2.50.0 20080528 for 0000:01:00.0 on minor 0",
    "input: PixArt USB Optical Mouse as /devices/platform/PHYT0001:00/usb1/1-1/1-1.2/1-1.2:1.0/0003:093A:2510.0001/input/input3",
    "r8169 0000:02:00.0 enp2s0: renamed from eth0",
    "iwlwifi 0000:04:00.0: loaded firmware version 46.6b541b68.0 op_mode iwlmvm",
    "Bluetooth: Core ver 2.22",
    "Bluetooth: HCI device and connection manager initialized",
    "audit: type=1400 audit(%(sec)d.312:2): apparmor=\"STATUS\" operation=\"profile_load\" profile=\"unconfined\" name=\"/usr/sbin/cupsd\" pid=402 comm=\"apparmor_parser\"",
    "IPv6: ADDRCONF(NETDEV_UP): wlp4s0: link is not ready",
]


def boot_stream(idx, boot, seed, fmt, is_last_boot):
    """Kernel boot messages, units starting, daemons' first lines, user login (ends by +50 s)."""
    s = Stream(idx, "boot_shutdown")
    sd = SystemdLog(s, fmt)
    rng = random.Random("%s:boot:%d" % (seed, boot.idx))
    items = []
    t0 = boot.start_us
    sec = boot.start_us // US
    # kernel ring buffer is flushed into the journal when journald starts; mono stays early
    for i, line in enumerate(KERNEL_BOOT):
        items.append((t0 + i * 9000 + rng.randrange(0, 8000), boot.kernel, 6 if i > 2 else 5,
                      line % {"kver": boot.kver, "sec": sec}))
    t = t0 + 1200000
    j = Proc(boot, "systemd-journald", 240 + boot.idx, 0, comm="systemd-journal",
             exe="/lib/systemd/systemd-journald", cmdline="/lib/systemd/systemd-journald",
             unit="systemd-journald.service", transport="driver")
    items.append((t, j, 6, "Journal started"))
    items.append((t + 500, boot.systemd, 6, "systemd 252 running in system mode (+PAM +AUDIT +SELINUX "
                  "+APPARMOR +IMA +SMACK +SECCOMP +GCRYPT -GNUTLS +OPENSSL +ACL +BLKID +CURL +ELFUTILS "
                  "+FIDO2 +IDN2 -IDN +IPTC +KMOD +LIBCRYPTSETUP +LIBFDISK +PCRE2 -PWQUALITY +P11KIT "
                  "+QRENCODE +TPM2 +BZIP2 +LZ4 +XZ +ZLIB +ZSTD -BPF_FRAMEWORK -XKBCOMMON +UTMP +SYSVINIT "
                  "default-hierarchy=hybrid)"))
    items.append((t + 900, boot.systemd, 6, "Detected architecture arm64."))
    items.append((t + 1400, boot.systemd, 6, "Hostname set to <%s>." % HOSTNAME))
    t += 300000
    targets = list(BOOT_TARGETS)
    step = 1500000 // len(BOOT_UNITS)
    for i, (unit, desc, kind) in enumerate(BOOT_UNITS):
        inv = boot.invocation(unit)
        job = boot.job()
        items.append((t, ("starting", unit, desc, job, inv), 6, None))
        t2 = t + 2000 + rng.randrange(0, 60000)
        items.append((t2, ("finished" if kind == "finished" else "started", unit, desc, job, inv), 6, None))
        if i % 4 == 3 and targets:
            tgt, tdesc = targets.pop(0)
            items.append((t2 + 300, ("reached", tgt, tdesc, boot.job(), None), 6, None))
        t += step + rng.randrange(0, step)
    for tgt, tdesc in targets:
        t += 1000
        items.append((t, ("reached", tgt, tdesc, boot.job(), None), 6, None))
    if boot.idx == 0:
        # the module still exists for the old kernel: the unit starts fine in this boot
        inv = boot.invocation(DEEPIN_UNIT)
        job = boot.job()
        tt = t0 + 2800000 + rng.randrange(0, 300000)
        items.append((tt, ("starting", DEEPIN_UNIT, DEEPIN_DESC, job, inv), 6, None))
        items.append((tt + 90000, ("started", DEEPIN_UNIT, DEEPIN_DESC, job, inv), 6, None))
    items.append((t + 5000, boot.systemd, 6, "Startup finished in 3.521s (kernel) + 9.114s (userspace) = 12.636s."))
    # daemons' first lines
    nm = boot.procs["NetworkManager"]
    items.append((t0 + 5100000, nm, 6, "<info>  [%d.%04d] NetworkManager (version 1.20.6) is starting... (for the first time)" % (sec + 5, 1234)))
    items.append((t0 + 5110000, nm, 6, "<info>  [%d.%04d] Read config: /etc/NetworkManager/NetworkManager.conf" % (sec + 5, 1301)))
    items.append((t0 + 5300000, boot.procs["dbus-daemon"], 6, "[system] Successfully activated service 'org.freedesktop.NetworkManager'"))
    items.append((t0 + 9000000, boot.procs["wpa_supplicant"], 6, "wlp4s0: CTRL-EVENT-CONNECTED - Connection to 3c:46:d8:21:a0:7e completed [id=0 id_str=]"))
    items.append((t0 + 9100000, nm, 6, "<info>  [%d.%04d] device (wlp4s0): Activation: successful, device activated." % (sec + 9, 4410)))
    lg = boot.procs["systemd-logind"]
    items.append((t0 + 6000000, lg, 6, "New seat seat0."))
    items.append((t0 + 6100000, lg, 6, "Watching system buttons on /dev/input/event0 (Power Button)"))
    items.append((t0 + 12000000, lg, 6, "New session c1 of user lightdm."))
    items.append((t0 + 30000000, lg, 6, "New session 2 of user uos."))
    items.append((t0 + 30010000, boot.procs["lightdm"], 6, "pam_unix(lightdm:session): session opened for user uos by (uid=0)"))
    items.append((t0 + 30020000, ("started", "session-2.scope", "Session 2 of User uos", boot.job(), boot.invocation("session-2.scope")), 6, None))
    items.append((t0 + 33000000, boot.procs["startdde"], 6, "startdde: session started, launching dde-session-daemon"))
    items.append((t0 + 36000000, boot.procs["dde-session-daemon"], 6, "<info> loader.go:109: modules init finished"))
    items.append((t0 + 38000000, boot.procs["pulseaudio"], 6, "[pulseaudio] module-bluez5-device.c: Default profile not connected, selecting off profile"))
    items.sort(key=lambda x: x[0])
    for ts, what, prio, msg in items:
        if isinstance(what, tuple):
            kind, unit, desc, job, inv = what
            if kind == "starting":
                yield sd.starting(ts, boot, unit, desc, job, inv)
            elif kind == "started":
                yield sd.started(ts, boot, unit, desc, job, inv)
            elif kind == "finished":
                yield sd.started(ts, boot, unit, desc, job, inv, verb="Finished")
            else:
                yield sd.reached(ts, boot, unit, desc, job)
        else:
            yield s.item(ts, boot, what, prio, msg)
    if boot.shutdown_us is None:
        return
    # shutdown (the kernel upgrade's reboot)
    t = boot.shutdown_us
    yield s.item(t, boot, boot.procs["systemd-logind"], 6, "System is rebooting.")
    t += 20000
    order = [u for u in reversed(BOOT_UNITS) if u[2] == "started" and u[0] != "systemd-journald.service"]
    order.insert(3, (DEEPIN_UNIT, DEEPIN_DESC, "started"))
    for unit, desc, kind in order:
        inv = boot.invocation(unit)
        job = boot.job()
        yield sd.stopping(t, boot, unit, desc, job, inv)
        t += 20000 + rng.randrange(0, 80000)
        yield sd.deactivated(t, boot, unit, inv)
        t += 200
        yield sd.stopped(t, boot, unit, desc, job, inv)
        t += 5000 + rng.randrange(0, 20000)
    for tgt, tdesc in (("shutdown.target", "System Shutdown"), ("final.target", "Late Shutdown Services")):
        yield sd.reached(t, boot, tgt, tdesc, boot.job())
        t += 3000
    yield sd.plain(t, boot, "Shutting down.", mid=MID_SHUTDOWN)
    t += 40000
    yield s.item(t, boot, Proc(boot, "systemd-journald", 240 + boot.idx, 0, comm="systemd-journal",
                               exe="/lib/systemd/systemd-journald", cmdline="/lib/systemd/systemd-journald",
                               unit="systemd-journald.service", transport="driver"),
                 6, "Journal stopped")


# ---------------------------------------------------------------------------------------------
# steady noise

APS = ["3c:46:d8:21:a0:7e", "3c:46:d8:21:a0:7f"]
IFACE = "wlp4s0"


def make_daemon_procs(boot, pids):
    P = {}

    def mk(key, ident, pid, uid=0, unit=None, comm=None, exe=None, transport="syslog", facility=3, **kw):
        P[key] = Proc(boot, ident, pid, uid, comm=comm, exe=exe, unit=unit, transport=transport,
                      facility=facility, invocation=boot.invocation(unit) if unit and unit.endswith(".service") else None,
                      **kw)
    user_unit = "session-2.scope"
    mk("dbus-daemon", "dbus-daemon", pids["dbus"], 104, "dbus.service", exe="/usr/bin/dbus-daemon", gid=108,
       cmdline="/usr/bin/dbus-daemon --system --address=systemd: --nofork --nopidfile --systemd-activation "
               "--syslog-only")
    mk("NetworkManager", "NetworkManager", pids["nm"], 0, "NetworkManager.service", exe="/usr/sbin/NetworkManager")
    mk("wpa_supplicant", "wpa_supplicant", pids["wpa"], 0, "wpa_supplicant.service", exe="/sbin/wpa_supplicant")
    mk("systemd-logind", "systemd-logind", pids["logind"], 0, "systemd-logind.service", comm="systemd-logind",
       exe="/lib/systemd/systemd-logind", transport="journal", facility=4)
    mk("lightdm", "lightdm", pids["lightdm"], 0, "lightdm.service", exe="/usr/sbin/lightdm", facility=10)
    mk("Xorg", "Xorg", pids["xorg"], 0, "lightdm.service", exe="/usr/lib/xorg/Xorg", transport="stdout")
    mk("startdde", "startdde", pids["startdde"], 1000, user_unit, exe="/usr/bin/startdde", transport="stdout")
    mk("dde-session-daemon", "dde-session-daemon", pids["dsd"], 1000, user_unit, comm="dde-session-dae",
       exe="/usr/lib/deepin-daemon/dde-session-daemon", transport="stdout")
    mk("dde-system-daemon", "dde-system-daemon", pids["dsysd"], 0, "dde-system-daemon.service", comm="dde-system-daem",
       exe="/usr/lib/deepin-daemon/dde-system-daemon", transport="stdout")
    mk("dde-dock", "dde-dock", pids["dock"], 1000, user_unit, exe="/usr/bin/dde-dock", transport="stdout")
    mk("kwin_x11", "kwin_x11", pids["kwin"], 1000, user_unit, exe="/usr/bin/kwin_x11", transport="stdout")
    mk("pulseaudio", "pulseaudio", pids["pulse"], 1000, "user@1000.service", exe="/usr/bin/pulseaudio",
       slice_="user-1000.slice", cgroup="/user.slice/user-1000.slice/user@1000.service/app.slice/pulseaudio.service",
       user_unit="pulseaudio.service")
    mk("bluetoothd", "bluetoothd", pids["bt"], 0, "bluetooth.service", exe="/usr/lib/bluetooth/bluetoothd")
    mk("udisksd", "udisksd", pids["udisks"], 0, "udisks2.service", exe="/usr/lib/udisks2/udisksd")
    mk("polkitd", "polkitd", pids["polkit"], 110, "polkit.service", exe="/usr/lib/policykit-1/polkitd", facility=10)
    mk("cupsd", "cupsd", pids["cups"], 0, "cups.service", exe="/usr/sbin/cupsd")
    mk("ModemManager", "ModemManager", pids["mm"], 0, "ModemManager.service", exe="/usr/sbin/ModemManager")
    mk("systemd-udevd", "systemd-udevd", pids["udevd"], 0, "systemd-udevd.service", exe="/lib/systemd/systemd-udevd",
       transport="journal")
    mk("systemd-timesyncd", "systemd-timesyncd", pids["timesyncd"], 101, "systemd-timesyncd.service",
       comm="systemd-timesyn", exe="/lib/systemd/systemd-timesyncd", transport="journal")
    mk("accounts-daemon", "accounts-daemon", pids["accounts"], 0, "accounts-daemon.service", comm="accounts-daemon",
       exe="/usr/lib/accountsservice/accounts-daemon")
    mk("rtkit-daemon", "rtkit-daemon", pids["rtkit"], 0, "rtkit-daemon.service", exe="/usr/lib/rtkit/rtkit-daemon",
       facility=4)
    mk("upowerd", "upowerd", pids["upower"], 0, "upower.service", exe="/usr/lib/upower/upowerd")
    mk("lastore-daemon", "lastore-daemon", pids["lastore"], 0, "lastore-daemon.service",
       exe="/usr/bin/lastore-daemon", transport="stdout")
    mk("deepin-deepinid-daemon", "deepin-deepinid-daemon", pids["deepinid"], 1000, user_unit, comm="deepin-deepinid",
       exe="/usr/lib/deepin-deepinid-daemon/deepin-deepinid-daemon", transport="stdout")
    mk("gnome-keyring-daemon", "gnome-keyring-daemon", pids["keyring"], 1000, user_unit, comm="gnome-keyring-d",
       exe="/usr/bin/gnome-keyring-daemon")
    mk("colord", "colord", pids["colord"], 113, "colord.service", exe="/usr/lib/colord/colord")
    mk("rsyslogd", "rsyslogd", pids["rsyslog"], 0, "rsyslog.service", exe="/usr/sbin/rsyslogd", facility=5)
    mk("dde-lock", "dde-lock", pids["lock"], 1000, user_unit, exe="/usr/bin/dde-lock", transport="stdout")
    mk("systemd-user", "systemd", pids["usermgr"], 1000, "user@1000.service", comm="systemd", exe="/lib/systemd/systemd",
       transport="journal", slice_="user-1000.slice",
       cgroup="/user.slice/user-1000.slice/user@1000.service/init.scope", user_unit="init.scope")
    boot.procs = P


def noise_events():
    """(weight, function(rng, boot, t_sec) -> list of (proc_key_or_Proc, prio, message[, extra]))."""
    def r(rng, a, b):
        return rng.randint(a, b)

    def nmts(t):
        return "%d.%04d" % (t, (t * 7919) % 10000)

    ev = []

    def add(w, pool=None):
        def deco(f):
            ev.append((w, f, pool))
            return f
        return deco

    @add(70, pool=3000)
    def kernel_misc(rng, boot, t):
        c = rng.random()
        if c < 0.35:
            return [("kernel", 4, "[UFW BLOCK] IN=%s OUT= MAC=01:00:5e:00:00:fb:%s:08:00 SRC=192.168.1.%d DST=224.0.0.251 LEN=%d TOS=0x00 PREC=0x00 TTL=255 ID=%d DF PROTO=UDP SPT=5353 DPT=5353 LEN=%d"
                     % (IFACE, APS[0], r(rng, 2, 250), r(rng, 60, 400), r(rng, 1, 65535), r(rng, 40, 380)))]
        if c < 0.55:
            return [("kernel", 6, "usb 1-1.%d: new full-speed USB device number %d using xhci_hcd" % (r(rng, 1, 4), r(rng, 3, 90))),
                    ("kernel", 6, "usb 1-1.%d: New USB device found, idVendor=046d, idProduct=c52b, bcdDevice=12.11" % r(rng, 1, 4))]
        if c < 0.7:
            return [("kernel", 6, "%s: authenticate with %s" % (IFACE, APS[r(rng, 0, 1)])),
                    ("kernel", 6, "%s: send auth to %s (try 1/3)" % (IFACE, APS[0])),
                    ("kernel", 6, "%s: associated" % IFACE)]
        if c < 0.72:
            return [("kernel", 4, "radeon 0000:01:00.0: ring %d stalled for more than %dmsec" % (r(rng, 0, 5), r(rng, 10000, 20000)))]
        return [("kernel", 6, "IPv6: ADDRCONF(NETDEV_CHANGE): %s: link becomes ready" % IFACE)]

    @add(4)
    def kernel_audit(rng, boot, t):
        return [("kernel", 5, "audit: type=1400 audit(%d.%03d:%d): apparmor=\"DENIED\" operation=\"open\" profile=\"/usr/sbin/cupsd\" name=\"/etc/ssl/openssl.cnf\" pid=%d comm=\"cupsd\" requested_mask=\"r\" denied_mask=\"r\" fsuid=0 ouid=0"
                 % (t, r(rng, 0, 999), r(rng, 100, 99999), boot.procs["cupsd"].pid))]

    @add(15)
    def networkmanager(rng, boot, t):
        nm = "NetworkManager"
        ip = "192.168.1.%d" % (20 + boot.idx * 3)
        c = rng.random()
        if c < 0.6:
            return [(nm, 6, "<info>  [%s] dhcp4 (%s): option dhcp_lease_time      => '7200'" % (nmts(t), IFACE)),
                    (nm, 6, "<info>  [%s] dhcp4 (%s): option ip_address           => '%s'" % (nmts(t), IFACE, ip)),
                    (nm, 6, "<info>  [%s] dhcp4 (%s): option routers              => '192.168.1.1'" % (nmts(t), IFACE)),
                    (nm, 6, "<info>  [%s] dhcp4 (%s): state changed extended -> extended" % (nmts(t), IFACE)),
                    ("dbus-daemon", 6, "[system] Activating via systemd: service name='org.freedesktop.nm_dispatcher' unit='dbus-org.freedesktop.nm-dispatcher.service' requested by ':1.%d' (uid=0 pid=%d comm=\"/usr/sbin/NetworkManager --no-daemon \")" % (5 + boot.idx, boot.procs[nm].pid))]
        if c < 0.85:
            return [(nm, 6, "<info>  [%s] device (%s): set-hw-addr: set MAC address to %s (scanning)" % (nmts(t), IFACE, "6e:%02x:%02x:1c:aa:%02x" % (r(rng, 0, 255), r(rng, 0, 255), r(rng, 0, 255))))]
        return [(nm, 6, "<info>  [%s] connectivity: (%s) timed out" % (nmts(t), IFACE)) if rng.random() < 0.2 else
                (nm, 6, "<info>  [%s] manager: NetworkManager state is now CONNECTED_GLOBAL" % nmts(t))]

    @add(5, pool=1)
    def nm_dispatcher_done(rng, boot, t):
        # the activation NetworkManager asked for above completes: healthy activation noise
        return [("dbus-daemon", 6, "[system] Successfully activated service 'org.freedesktop.nm_dispatcher'")]

    @add(60, pool=1500)
    def wpa(rng, boot, t):
        c = rng.random()
        if c < 0.7:
            return [("wpa_supplicant", 6, "%s: CTRL-EVENT-SIGNAL-CHANGE above=%d signal=-%d noise=9999 txrate=%d" % (IFACE, r(rng, 0, 1), r(rng, 45, 80), r(rng, 6000, 400000)))]
        return [("wpa_supplicant", 6, "%s: WPA: Group rekeying completed with %s [GTK=CCMP]" % (IFACE, APS[0]))]

    @add(110, pool=2000)
    def dde_session(rng, boot, t):
        msgs = [
            "<info> audio.go:%d: sink %d volume changed: %.2f" % (r(rng, 300, 900), r(rng, 0, 3), rng.random()),
            "<info> power/manager_lmt.go:%d: battery percentage %.1f, on battery false" % (r(rng, 50, 300), 100.0),
            "<warning> network/manager.go:%d: get device state failed: no such device" % r(rng, 100, 900),
            "<info> keybinding/manager.go:%d: handle key event, keystroke: <Super>" % r(rng, 100, 900),
            "<info> display/display.go:%d: brightness changed to %.2f" % (r(rng, 100, 900), rng.random()),
            "<info> timedate/manager.go:%d: NTP sync status: synchronized" % r(rng, 100, 900),
            "<info> appearance/manager.go:%d: set wallpaper slideshow: " % r(rng, 100, 900),
        ]
        return [("dde-session-daemon", 6, rng.choice(msgs))]

    @add(45, pool=800)
    def dde_system(rng, boot, t):
        msgs = [
            "<info> power/lid_switch.go:%d: lid open" % r(rng, 30, 99),
            "<info> accounts/user.go:%d: user uos update property IconFile" % r(rng, 100, 900),
            "<info> gesture/manager.go:%d: received event: type %d, direction %d, fingers 3" % (r(rng, 100, 400), r(rng, 1, 3), r(rng, 1, 4)),
            "<debug> fprintd: device list unchanged",
        ]
        return [("dde-system-daemon", 6, rng.choice(msgs))]

    @add(55, pool=3000)
    def kwin(rng, boot, t):
        return [("kwin_x11", 6, "kwin_core: XCB error: %d (BadDamage), sequence: %d, resource id: %d, major code: 143 (DAMAGE), minor code: 3 (Subtract)"
                 % (152, r(rng, 1000, 65000), r(rng, 10000000, 99999999)))]

    @add(40, pool=2000)
    def dock(rng, boot, t):
        return [("dde-dock", 6, rng.choice([
            "qt.qpa.xcb: QXcbConnection: XCB error: 3 (BadWindow), sequence: %d, resource id: %d, major code: 40 (TranslateCoords), minor code: 0" % (r(rng, 1000, 65000), r(rng, 10000000, 99999999)),
            "[INFO] [dbusdockadaptors.cpp %d] entry added: /com/deepin/dde/daemon/Dock/entries/e%dT%x" % (r(rng, 100, 400), r(rng, 0, 40), r(rng, 0, 0xffffff)),
            "dcc: plugin loaded: network (%dms)" % r(rng, 3, 90),
        ]))]

    @add(40, pool=500)
    def lastore(rng, boot, t):
        return [("lastore-daemon", 6, rng.choice([
            "<info> manager.go:%d: checking for updates, source %d" % (r(rng, 100, 900), r(rng, 1, 5)),
            "<info> config.go:%d: save config: LastCheckTime" % r(rng, 50, 200),
            "<info> apt-proxy: update cache finished, %d packages" % r(rng, 56000, 56300),
        ]))]

    @add(30, pool=1500)
    def startdde(rng, boot, t):
        return [("startdde", 6, "<info> memanalyzer: memory used %d MiB, free %d MiB" % (r(rng, 2000, 6000), r(rng, 4000, 9000)))]

    @add(35, pool=800)
    def pulse(rng, boot, t):
        return [("pulseaudio", 6 if rng.random() < 0.7 else 4, rng.choice([
            "[pulseaudio] sink-input.c: Freeing input %d \"playback\"" % r(rng, 10, 9999),
            "[alsa-sink-ALC269VC Analog] alsa-sink.c: ALSA woke us up to write new data to the device, but there was actually nothing to write.",
            "[pulseaudio] module-switch-on-connect.c: Not switching to new sink",
        ]))]

    @add(25, pool=300)
    def bluetooth(rng, boot, t):
        return [("bluetoothd", 6, rng.choice([
            "Endpoint registered: sender=:1.%d path=/MediaEndpoint/A2DPSource" % r(rng, 40, 90),
            "Unable to get io data for Headset Voice gateway: getpeername: Transport endpoint is not connected (107)",
            "Battery Provider Manager created",
        ]))]

    @add(20, pool=2000)
    def misc_daemons(rng, boot, t):
        c = rng.random()
        if c < 0.2:
            return [("udisksd", 6, "Mounted /dev/sdb1 at /media/uos/KINGSTON on behalf of uid 1000"),
                    ("udisksd", 6, "Cleaning up mount point /media/uos/KINGSTON (device 8:17 is not mounted)")]
        if c < 0.35:
            return [("polkitd", 5, "Registered Authentication Agent for unix-session:2 (system bus name :1.%d [/usr/lib/polkit-1-dde/dde-polkit-agent], object path /org/freedesktop/PolicyKit1/AuthenticationAgent, locale zh_CN.UTF-8)" % r(rng, 40, 200))]
        if c < 0.45:
            return [("cupsd", 6, "REQUEST localhost - - \"POST / HTTP/1.1\" 200 %d Create-Printer-Subscriptions successful-ok" % r(rng, 150, 400))]
        if c < 0.55:
            return [("ModemManager", 6, "<info>  [base-manager] couldn't check support for device '/sys/devices/platform/PHYT0001:00/usb1/1-1/1-1.%d': not supported by any plugin" % r(rng, 1, 4))]
        if c < 0.65:
            return [("systemd-udevd", 6, "sdb1: Inotify watch added")]
        if c < 0.72:
            return [("accounts-daemon", 6, "request by system-bus-name::1.%d [dde-control-center pid:%d uid:1000]: change icon of user 'uos' (1000)" % (r(rng, 40, 200), r(rng, 3000, 9000)))]
        if c < 0.8:
            return [("rtkit-daemon", 6, "Supervising %d threads of %d processes of 1 users." % (r(rng, 1, 8), r(rng, 1, 4)))]
        if c < 0.86:
            return [("upowerd", 6, "energy_full (%d) is greater than energy_full_design" % r(rng, 40000, 50000))]
        if c < 0.92:
            return [("colord", 6, "Device added: xrandr-Lenovo-%d" % r(rng, 1, 3))]
        if c < 0.96:
            return [("gnome-keyring-daemon", 4, "couldn't access control socket: /run/user/1000/keyring/control: No such file or directory")]
        return [("Xorg", 6, "(II) event%d  - PixArt USB Optical Mouse: device removed" % r(rng, 3, 9)),
                ("Xorg", 6, "(II) config/udev: Adding input device PixArt USB Optical Mouse (/dev/input/event%d)" % r(rng, 3, 9))]

    @add(20, pool=1000)
    def deepinid(rng, boot, t):
        return [("deepin-deepinid-daemon", 6, "sync: token refresh ok, expires in %ds" % r(rng, 3000, 7200))]

    @add(1, pool=1)
    def timesync(rng, boot, t):
        return [("systemd-timesyncd", 6, "Initial synchronization to time server 119.28.183.184:123 (ntp.uniontech.com).")]

    @add(2, pool=1)
    def lock_unlock(rng, boot, t):
        return [("dde-lock", 6, "session locked by user uos"),
                ("dde-lock", 6, "unlock: authentication succeeded")]

    @add(0.15)
    def sudo(rng, boot, t):
        pid = boot.alloc_pid()
        p = Proc(boot, "sudo", pid, 0, comm="sudo", exe="/usr/bin/sudo", unit="session-2.scope",
                 slice_="user-1000.slice", transport="syslog", facility=10)
        cmd = rng.choice(["/usr/bin/apt update", "/usr/bin/systemctl status deepin-anything-monitor.service",
                          "/usr/bin/dmesg", "/usr/bin/slabtop -o"])
        return [(p, 5, "     uos : TTY=pts/0 ; PWD=/home/uos ; USER=root ; COMMAND=%s" % cmd),
                (p, 6, "pam_unix(sudo:session): session opened for user root by uos(uid=0)"),
                (p, 6, "pam_unix(sudo:session): session closed for user root")]

    @add(1)
    def hostnamed(rng, boot, t):
        # D-Bus activation that works (negative control for the activation detector)
        job, inv = boot.job(), hexid(rng)
        return [("dbus-daemon", 6, "[system] Activating via systemd: service name='org.freedesktop.hostname1' unit='dbus-org.freedesktop.hostname1.service' requested by ':1.%d' (uid=1000 pid=%d comm=\"dde-control-center \")" % (r(rng, 60, 300), r(rng, 3000, 9000))),
                ("SD", "starting", "systemd-hostnamed.service", "Hostname Service", job, inv),
                ("dbus-daemon", 6, "[system] Successfully activated service 'org.freedesktop.hostname1'"),
                ("SD", "started", "systemd-hostnamed.service", "Hostname Service", job, inv)]

    @add(1)
    def hostnamed_exit(rng, boot, t):
        return [("SD", "deactivated", "systemd-hostnamed.service", None, None, hexid(rng))]

    @add(2, pool=200)
    def user_manager(rng, boot, t):
        return [("systemd-user", 6, "Started Tracker metadata extractor.", "MESSAGE_ID=%s\nUSER_UNIT=tracker-extract.service\nUSER_INVOCATION_ID=%s\n" % (MID_STARTED, hexid(rng)))]

    return ev


def noise_stream(idx, boots, seed, fmt, count):
    """`count` entries of ordinary desktop noise, spread evenly over the boots' steady periods."""
    s = Stream(idx, "noise")
    sd = SystemdLog(s, fmt)
    rng = random.Random("%s:noise" % seed)
    events = noise_events()
    funcs = [f for _, f, _ in events]
    pools = [p for _, _, p in events]
    cache = {}
    cum = []
    acc = 0
    for w, _, _ in events:
        acc += w
        cum.append(acc)
    intervals = [(b, b.steady_start, b.steady_end) for b in boots]
    total = sum(e - st for _, st, e in intervals)
    if count <= 0:
        return
    slot = total / float(count)
    i = 0
    while i < count:
        v = i * slot + rng.random() * slot * 0.5
        # map virtual uptime onto the boots
        for boot, st, e in intervals:
            if v < e - st:
                t = st + int(v)
                break
            v -= e - st
        else:  # pragma: no cover
            boot, t = intervals[-1][0], intervals[-1][2] - 1
        fi = bisect.bisect_right(cum, rng.random() * acc)
        pool = pools[fi]
        if pool:
            # a bounded set of distinct messages per template: keeps the journal's data objects
            # under what one default-sized journal file holds (see README)
            k = (fi, boot.idx, rng.randrange(pool))
            lines = cache.get(k)
            if lines is None:
                lines = funcs[fi](random.Random("%s:pool:%d:%d:%d" % ((seed,) + k)), boot, t // US)
                cache[k] = lines
        else:
            lines = funcs[fi](rng, boot, t // US)
        if len(lines) > count - i:
            lines = lines[:count - i]
        step = max(1, min(3000, int(slot / (len(lines) + 1))))
        tt = t
        for ln in lines:
            if ln[0] == "SD":
                _, kind, unit, desc, job, inv = ln
                if kind == "starting":
                    yield sd.starting(tt, boot, unit, desc, job, inv)
                elif kind == "started":
                    yield sd.started(tt, boot, unit, desc, job, inv)
                else:
                    yield sd.deactivated(tt, boot, unit, inv)
            else:
                proc = ln[0]
                if not isinstance(proc, Proc):
                    proc = boot.kernel if proc == "kernel" else boot.procs[proc]
                yield s.item(tt, boot, proc, ln[1], ln[2], ln[3] if len(ln) > 3 else "")
            tt += step
        i += len(lines)


# ---------------------------------------------------------------------------------------------
# timeline and output


def build_timeline(args):
    rng = random.Random("%s:timeline" % args.seed)
    offset_us = int(args.utc_offset * 3600 * US)
    end_local = datetime.strptime(args.end, "%Y-%m-%dT%H:%M:%S")
    end_us = int((end_local - datetime(1970, 1, 1)).total_seconds()) * US - offset_us
    span = int(args.days * DAY)
    start_us = end_us - span
    loop_span = min(24 * HOUR, span // 2)
    b2_start = end_us - loop_span - 20 * US
    b1_shutdown = b2_start - 100 * US
    machine_id = hexid(rng)
    fixed1 = {"dbus": 539, "requester": 2975, "bus_name": ":1.42"}
    fixed2 = {"dbus": 541, "requester": 3021, "bus_name": ":1.45"}
    b1 = Boot(0, rng, machine_id, start_us, b1_shutdown, b1_shutdown + 5 * US, KVER_OLD, fixed1)
    b2 = Boot(1, rng, machine_id, b2_start, None, end_us, KVER_NEW, fixed2)
    boots = [b1, b2]
    base = {"nm": 612, "wpa": 640, "logind": 575, "lightdm": 782, "xorg": 810, "startdde": 2611, "dsd": 2690,
            "dsysd": 598, "dock": 2788, "kwin": 2702, "pulse": 2655, "bt": 571, "udisks": 603, "polkit": 620,
            "cups": 577, "mm": 655, "udevd": 262, "timesyncd": 512, "accounts": 569, "rtkit": 1190,
            "upower": 1012, "lastore": 905, "deepinid": 2840, "keyring": 2633, "colord": 1277, "rsyslog": 583,
            "lock": 2907, "usermgr": 2593, "cron": 580}
    for b in boots:
        pids = dict((k, v + 3 * b.idx + (k in ("dsd", "dock", "kwin", "deepinid")) * 11 * b.idx)
                    for k, v in base.items())
        pids["dbus"] = b.dbus_pid
        make_daemon_procs(b, pids)
    return boots, start_us, end_us, offset_us


def make_streams(args, boots, offset_us, noise_count):
    fmt = args.unit_format
    seed = args.seed
    streams = []
    n = [0]

    def add(gen_factory):
        streams.append(gen_factory(n[0]))
        n[0] += 1

    add(lambda i: avahi_stream(i, boots, seed))
    add(lambda i: deepin_stream(i, boots[1], seed, fmt, boots[1].end_us))
    add(lambda i: logrotate_stream(i, boots, seed, fmt, offset_us))
    add(lambda i: periodic_stream(i, boots, seed, fmt, offset_us, "sysstat", 10 * MIN, 0, 3 * US,
                                  "sysstat-collect.service", "system activity accounting tool", sysstat_body))
    add(lambda i: periodic_stream(i, boots, seed, fmt, offset_us, "anacron", HOUR, 30 * MIN, 5 * MIN,
                                  "anacron.service", "Run anacron jobs", anacron_body, hours=range(7, 24)))
    add(lambda i: periodic_stream(i, boots, seed, fmt, offset_us, "apt-daily", 12 * HOUR, 6 * HOUR, 12 * HOUR - MIN,
                                  "apt-daily.service", "Daily apt download activities", apt_body))
    add(lambda i: periodic_stream(i, boots, seed, fmt, offset_us, "man-db", DAY, 0, 12 * HOUR,
                                  "man-db.service", "Daily man-db regeneration", mandb_body))
    add(lambda i: periodic_stream(i, boots, seed, fmt, offset_us, "tmpfiles", DAY, 15 * MIN, MIN,
                                  "systemd-tmpfiles-clean.service", "Cleanup of Temporary Directories", None))
    add(lambda i: cron_stream(i, boots, seed, offset_us))
    for b in boots:
        add(lambda i, b=b: boot_stream(i, b, seed, fmt, b is boots[-1]))
    add(lambda i: noise_stream(i, boots, seed, fmt, noise_count))
    return streams


def iso(us):
    return datetime.fromtimestamp(us / 1e6, timezone.utc).isoformat().replace("+00:00", "Z")


STAT_KEYS = ("avahi_activating", "avahi_failed", "restart_scheduled", "deepin_cycles", "deepin_failed_with_result",
             "deepin_control_exited", "logrotate_runs_failed", "logrotate_error_lines", "failed_with_result_total",
             "max_restart_counter")


def new_stats():
    return dict((k, 0) for k in STAT_KEYS)


def expected_from(st, entries):
    return {
        "entries": entries,
        "activation_failures": st["avahi_failed"],
        "restart_scheduled": st["restart_scheduled"],
        "logrotate_failures": st["logrotate_runs_failed"],
        "grep_count": st["avahi_failed"] + st["restart_scheduled"] + st["failed_with_result_total"],
    }


def plan_journal_parts(total, tail, part_max):
    """Sizes of the journal files, oldest first; the last one is system.journal.

    systemd-journal-remote 252 caps a file at 128 MiB (journal_default_metrics; its .conf has no
    MaxFileSize before 253) and, when it rotates by itself, writes the entry at the rotation point
    into both files. So the stream is cut here, below the cap, one journal-remote run per file.
    """
    if total <= tail:
        return [total]
    older = total - tail
    n = (older + part_max - 1) // part_max
    sizes = [older // n + (1 if i < older % n else 0) for i in range(n)]
    return sizes + [tail]


class JournalWriter(object):
    def __init__(self, jdir, sizes, seed):
        self.jdir = jdir
        self.sizes = sizes
        self.part = -1
        self.left = 0
        self.proc = None
        self.err = None
        self.files = []
        self.seqnum_id = hashlib.sha256(("%s:seqnum" % seed).encode()).hexdigest()[:32]
        self.head = 1

    def need_new(self):
        return self.left == 0

    def open(self, head_ts):
        self.part += 1
        self.left = self.sizes[self.part]
        if self.part == len(self.sizes) - 1:
            name = "system.journal"
        else:
            name = "system@%s-%016x-%016x.journal" % (self.seqnum_id, self.head, head_ts)
        path = os.path.join(self.jdir, name)
        self.err = open(os.path.join(self.jdir, ".journal-remote-%d.log" % self.part), "w+b")
        self.proc = subprocess.Popen([JOURNAL_REMOTE, "-o", path, "--split-mode=none", "-"],
                                     stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self.err)
        self.files.append({"path": "journal/" + name, "entries": self.sizes[self.part]})

    def write(self, data):
        self.proc.stdin.write(data)

    def close(self):
        self.proc.stdin.close()
        rc = self.proc.wait()
        self.err.seek(0)
        msg = self.err.read().decode("utf-8", "replace").strip()
        self.err.close()
        os.unlink(self.err.name)
        if rc != 0:
            sys.exit("generate.py: systemd-journal-remote exited %d: %s" % (rc, msg))
        self.files[-1]["journal_remote_says"] = msg.splitlines()[-1] if msg else ""
        self.head += self.sizes[self.part]
        self.proc = None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output directory (created; our files in it are replaced)")
    ap.add_argument("--entries", type=int, default=1000000, help="total entries (default 1000000)")
    ap.add_argument("--days", type=float, default=7.0, help="length of the window in days (default 7)")
    ap.add_argument("--seed", default="1", help="random seed (default 1)")
    ap.add_argument("--end", default=DEFAULT_END_LOCAL,
                    help="local end of the window, YYYY-MM-DDTHH:MM:SS (default %s)" % DEFAULT_END_LOCAL)
    ap.add_argument("--utc-offset", type=float, default=8.0,
                    help="machine's UTC offset in hours, used for syslog text and timers (default 8, CST like the seed)")
    ap.add_argument("--unit-format", choices=("description", "combined"), default="description",
                    help="status-unit-format of PID 1 Starting/Started/Failed to start lines (default description)")
    ap.add_argument("--journal-tail-entries", type=int, default=300000,
                    help="entries in journal/system.journal, the newest ones (default 300000); older entries go "
                         "to archived files journal/system@*.journal")
    ap.add_argument("--journal-part-entries", type=int, default=350000,
                    help="most entries per archived journal file (default 350000; a journal-remote 252 file "
                         "holds at most 128 MiB, ~450000 of these entries)")
    ap.add_argument("--no-journal", action="store_true", help="write only the syslog files and meta.json")
    ap.add_argument("--no-rfc3339", action="store_true", help="do not write syslog-rfc3339")
    args = ap.parse_args(argv)

    t_begin = time.time()
    out = os.path.abspath(args.out)
    jdir = os.path.join(out, "journal")
    os.makedirs(jdir, exist_ok=True)
    for name in os.listdir(jdir):
        if name == "system.journal" or (name.startswith("system@") and name.endswith(".journal")):
            os.unlink(os.path.join(jdir, name))

    # pass 1: count the fixed streams (loops, timers, boots) to size the noise exactly
    boots, start_us, end_us, offset_us = build_timeline(args)
    fixed_count = 0
    for st in make_streams(args, boots, offset_us, 0):
        for _ in st:
            fixed_count += 1
    noise_count = args.entries - fixed_count
    if noise_count < 0:
        sys.exit("generate.py: the loops alone need %d entries over %g days; raise --entries or lower --days"
                 % (fixed_count, args.days))

    # pass 2: the real thing, on a fresh timeline (pid/job counters restart)
    boots, start_us, end_us, offset_us = build_timeline(args)
    streams = make_streams(args, boots, offset_us, noise_count)

    jw = None
    if not args.no_journal:
        if not os.access(JOURNAL_REMOTE, os.X_OK):
            sys.exit("generate.py: %s not found (use --no-journal)" % JOURNAL_REMOTE)
        jw = JournalWriter(jdir, plan_journal_parts(args.entries, args.journal_tail_entries,
                                                    args.journal_part_entries), args.seed)
    syslog_path = os.path.join(out, "syslog")
    sha = hashlib.sha256()
    rfc_path = os.path.join(out, "syslog-rfc3339")
    rfc_sha = hashlib.sha256()
    rfc = None if args.no_rfc3339 else open(rfc_path, "w", encoding="utf-8", newline="\n", buffering=1 << 20)
    if args.no_rfc3339 and os.path.exists(rfc_path):
        os.unlink(rfc_path)  # a copy left by an earlier run would not match this one
    rbufs = []
    counts = {}
    part_stats = [new_stats()]
    part_bounds = [[None, None]]
    stats = part_stats[0]
    firsts = {}
    lasts = {}
    total = 0
    first_ts = last_ts = None
    day_cache = {}
    bufs = []
    jbufs = []

    def stamp(ts):
        sec = ts // US + offset_us // US
        day, rem = divmod(sec, 86400)
        pre = day_cache.get(day)
        if pre is None:
            d = datetime(1970, 1, 1) + timedelta(days=day)
            pre = "%s %2d " % (MONTHS[d.month - 1], d.day)
            day_cache[day] = pre
        h, rem = divmod(rem, 3600)
        m, s_ = divmod(rem, 60)
        return "%s%02d:%02d:%02d" % (pre, h, m, s_)

    off_min = int(round(offset_us / float(MIN)))
    rfc_zone = "%s%02d:%02d" % ("-" if off_min < 0 else "+", abs(off_min) // 60, abs(off_min) % 60)
    rfc_days = {}

    def stamp3339(ts):
        """RSYSLOG_FileFormat's timestamp: 2024-01-18T10:36:02.003130+08:00 (local time)."""
        sec, us = divmod(ts + offset_us, US)
        day, rem = divmod(sec, 86400)
        pre = rfc_days.get(day)
        if pre is None:
            d = datetime(1970, 1, 1) + timedelta(days=day)
            pre = rfc_days[day] = "%04d-%02d-%02dT" % (d.year, d.month, d.day)
        h, rem = divmod(rem, 3600)
        m, s_ = divmod(rem, 60)
        return "%s%02d:%02d:%02d.%06d%s" % (pre, h, m, s_, us, rfc_zone)

    with open(syslog_path, "w", encoding="utf-8", newline="\n", buffering=1 << 20) as sl:
        for ts, _sidx, _seq, payload in heapq.merge(*streams):
            cat, boot, proc, prio, msg, extra = payload
            if jw is not None and jw.need_new():
                if jw.proc is not None:
                    jw.write("".join(jbufs).encode("utf-8"))
                    jbufs = []
                    jw.close()
                    part_stats.append(new_stats())
                    part_bounds.append([None, None])
                    stats = part_stats[-1]
                jw.open(ts)
            if jw is not None:
                jw.left -= 1
            total += 1
            counts[cat] = counts.get(cat, 0) + 1
            if first_ts is None:
                first_ts = ts
            last_ts = ts
            pb = part_bounds[-1]
            if pb[0] is None:
                pb[0] = ts
            pb[1] = ts
            st = stamp(ts)
            mono = boot.mono(ts)
            if proc.kernel:
                body = " %s kernel: [%5d.%06d] %s\n" % (HOSTNAME, mono // US, mono % US, msg)
            else:
                body = " %s %s%s\n" % (HOSTNAME, proc.prefix, msg)
            bufs.append(st + body)
            if rfc is not None:
                rbufs.append(stamp3339(ts) + body)
            if jw is not None:
                jbufs.append("__REALTIME_TIMESTAMP=%d\n__MONOTONIC_TIMESTAMP=%d\n_BOOT_ID=%s\n%sPRIORITY=%d\n%sMESSAGE=%s\n\n"
                             % (ts, mono, boot.boot_id, proc.block, prio, extra, msg))
            if cat != "noise" and cat != "boot_shutdown" and cat != "healthy_timers":
                key = None
                if cat == "avahi_activation_loop":
                    if msg.startswith("[system] Activation via"):
                        stats["avahi_failed"] += 1
                        key = "avahi"
                    else:
                        stats["avahi_activating"] += 1
                elif cat == "deepin_restart_loop":
                    if "Scheduled restart job" in msg:
                        stats["restart_scheduled"] += 1
                        stats["max_restart_counter"] = max(stats["max_restart_counter"],
                                                           int(msg.rsplit(" ", 1)[1].rstrip(".")))
                        key = "deepin"
                    elif msg.startswith("Starting "):
                        stats["deepin_cycles"] += 1
                    elif "Failed with result" in msg:
                        stats["deepin_failed_with_result"] += 1
                        stats["failed_with_result_total"] += 1
                    elif "Control process exited" in msg:
                        stats["deepin_control_exited"] += 1
                elif cat == "logrotate_timer_failure":
                    if "Failed with result" in msg:
                        stats["logrotate_runs_failed"] += 1
                        stats["failed_with_result_total"] += 1
                        key = "logrotate"
                    elif msg.startswith("error: "):
                        stats["logrotate_error_lines"] += 1
                if key:
                    firsts.setdefault(key, ts)
                    lasts[key] = ts
            if len(bufs) >= 4096:
                chunk = "".join(bufs)
                sl.write(chunk)
                sha.update(chunk.encode("utf-8"))
                bufs = []
                if rfc is not None:
                    chunk = "".join(rbufs)
                    rfc.write(chunk)
                    rfc_sha.update(chunk.encode("utf-8"))
                    rbufs = []
                if jw is not None:
                    jw.write("".join(jbufs).encode("utf-8"))
                    jbufs = []
        if bufs:
            chunk = "".join(bufs)
            sl.write(chunk)
            sha.update(chunk.encode("utf-8"))
        if rfc is not None:
            chunk = "".join(rbufs)
            rfc.write(chunk)
            rfc_sha.update(chunk.encode("utf-8"))
            rfc.close()
        if jw is not None:
            jw.write("".join(jbufs).encode("utf-8"))
            jw.close()
    t_written = time.time()

    if total != args.entries:
        sys.exit("generate.py: wrote %d entries, wanted %d (bug)" % (total, args.entries))

    stats = new_stats()
    for ps in part_stats:
        for k in STAT_KEYS:
            stats[k] = max(stats[k], ps[k]) if k == "max_restart_counter" else stats[k] + ps[k]

    journal_info = None
    if jw is not None:
        for f, ps, pb in zip(jw.files, part_stats, part_bounds):
            f["expected"] = expected_from(ps, f["entries"])
            f["first_utc"], f["last_utc"] = iso(pb[0]), iso(pb[1])
        journal_info = verify_journal(out, jdir, jw.files, total)
    t_end = time.time()

    span_h = (last_ts - first_ts) / float(HOUR)
    meta = {
        "generator": "bench/generate.py",
        "seed": args.seed,
        "entries": total,
        "days": args.days,
        "hostname": HOSTNAME,
        "utc_offset_hours": args.utc_offset,
        "unit_format": args.unit_format,
        "syslog_timezone_note": "syslog timestamps are local time at utc_offset_hours, without year (%d)"
                                % datetime.fromtimestamp(first_ts // US, timezone.utc).year,
        "start": {"utc": iso(first_ts), "epoch": first_ts / 1e6, "epoch_us": first_ts},
        "end": {"utc": iso(last_ts), "epoch": last_ts / 1e6, "epoch_us": last_ts},
        "boots": [{"boot_id": b.boot_id, "kernel": b.kver, "start_utc": iso(b.start_us),
                   "shutdown_utc": iso(b.shutdown_us) if b.shutdown_us else None,
                   "dbus_daemon_pid": b.dbus_pid} for b in boots],
        "counts_per_category": dict(sorted(counts.items())),
        "loop_lines": stats,
        "expected": dict(expected_from(stats, total), **{
            "grep_pattern": "Activation via systemd failed|restart counter is at|Failed with result",
            "journalctl_cat_lines": total,
        }),
        "findings": {
            "avahi_activation_loop": {
                "kind": "dbus-activation-loop", "unit": AVAHI_UNIT, "bus_name": AVAHI_NAME,
                "count": stats["avahi_failed"], "period_s": 5,
                "first_utc": iso(firsts["avahi"]) if "avahi" in firsts else None,
                "last_utc": iso(lasts["avahi"]) if "avahi" in lasts else None,
                "bus_daemon": {"_COMM": "dbus-daemon", "_UID": 104, "_SYSTEMD_UNIT": "dbus.service"},
            },
            "deepin_restart_loop": {
                "kind": "restart-loop", "unit": DEEPIN_UNIT, "count": stats["restart_scheduled"],
                "max_restart_counter": stats["max_restart_counter"], "start_attempts": stats["deepin_cycles"],
                "restart_sec": 10,
                "cause": "ExecStartPre=/usr/sbin/modprobe vfs_monitor (module missing for %s)" % KVER_NEW,
                "first_utc": iso(firsts["deepin"]) if "deepin" in firsts else None,
                "last_utc": iso(lasts["deepin"]) if "deepin" in lasts else None,
            },
            "logrotate_timer_failure": {
                "kind": "timer-unit-failing", "unit": LOGROTATE_UNIT, "count": stats["logrotate_runs_failed"],
                "period_s": 3600, "config_error": "clink-agent:8, unexpected text after }",
                "first_utc": iso(firsts["logrotate"]) if "logrotate" in firsts else None,
                "last_utc": iso(lasts["logrotate"]) if "logrotate" in lasts else None,
            },
        },
        "rates_per_hour": {
            "activation_failures": round(stats["avahi_failed"] / span_h, 1) if span_h else None,
            "restart_scheduled": round(stats["restart_scheduled"] / min(span_h, 24.0), 1) if span_h else None,
        },
        "files": {
            "syslog": {"path": "syslog", "bytes": os.path.getsize(syslog_path), "lines": total,
                       "sha256": sha.hexdigest()},
        },
        "generation_seconds": round(t_end - t_begin, 2),
        "generation_seconds_writing": round(t_written - t_begin, 2),
        "generator_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
    }
    if rfc is not None:
        meta["files"]["syslog_rfc3339"] = {
            "path": "syslog-rfc3339", "bytes": os.path.getsize(rfc_path), "lines": total, "sha256": rfc_sha.hexdigest(),
            "format": "RSYSLOG_FileFormat: RFC 3339 local time with microseconds and the UTC offset (%s)" % rfc_zone}
    if journal_info is not None:
        meta["files"]["journal"] = journal_info
        last = journal_info["files"][-1]
        meta["expected_journal_file"] = dict(last["expected"], path=last["path"])
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print("wrote %d entries (%s .. %s) to %s in %.1f s (peak RSS %.0f MB)"
          % (total, meta["start"]["utc"], meta["end"]["utc"], out, t_end - t_begin, meta["generator_peak_rss_mb"]))
    for k, v in sorted(counts.items()):
        print("  %-26s %9d" % (k, v))
    e = meta["expected"]
    print("expected: activation_failures=%d restart_scheduled=%d logrotate_failures=%d grep_count=%d"
          % (e["activation_failures"], e["restart_scheduled"], e["logrotate_failures"], e["grep_count"]))
    print("syslog: %d bytes" % meta["files"]["syslog"]["bytes"])
    if rfc is not None:
        print("syslog-rfc3339: %d bytes" % meta["files"]["syslog_rfc3339"]["bytes"])
    if journal_info is not None:
        for f in journal_info["files"]:
            print("journal: %-90s %10d bytes %8d entries, data hash table fill %s"
                  % (f["path"], f["bytes"], f["entries"], f.get("header_data_hash_table_fill", "?")))
        print("journalctl -D reads back %d entries" % journal_info["entries_read_back"])
    return 0


def count_lines(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    n = 0
    while True:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        n += chunk.count(b"\n")
    err = p.stderr.read()
    return n, p.wait(), err.decode("utf-8", "replace")


def verify_journal(out, jdir, files, expected):
    """Each file holds exactly its entries, nothing rotated, journalctl reads back `expected` in all."""
    jc = shutil.which("journalctl") or "/bin/journalctl"
    names = sorted(n for n in os.listdir(jdir) if n.endswith(".journal"))
    want = sorted(os.path.basename(f["path"]) for f in files)
    if names != want:
        sys.exit("generate.py: journal files %s, expected %s (did journal-remote rotate? lower "
                 "--journal-tail-entries/--journal-part-entries)" % (names, want))
    for f in files:
        path = os.path.join(out, f["path"])
        f["bytes"] = os.path.getsize(path)
        h = subprocess.run([jc, "--file", path, "--header", "--no-pager"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, universal_newlines=True)
        for line in h.stdout.splitlines():
            k, _, v = line.partition(":")
            k = k.strip()
            if k in ("Entry objects", "Data objects", "Data hash table size", "Data hash table fill",
                     "Incompatible flags", "Disk usage"):
                f["header_" + k.lower().replace(" ", "_")] = v.strip()
        if f.get("header_entry_objects") != str(f["entries"]):
            sys.exit("generate.py: %s has %s entry objects, expected %d"
                     % (f["path"], f.get("header_entry_objects"), f["entries"]))
    last = os.path.join(out, files[-1]["path"])
    n, rc, err = count_lines([jc, "--file", last, "-q", "-o", "cat", "--no-pager"])
    if rc != 0 or n != files[-1]["entries"]:
        sys.exit("generate.py: journalctl --file %s read back %d lines (rc %d), expected %d: %s"
                 % (last, n, rc, files[-1]["entries"], err[:500]))
    n, rc, err = count_lines([jc, "-D", jdir, "-q", "-o", "cat", "--no-pager"])
    if rc != 0 or n != expected:
        sys.exit("generate.py: journalctl -D %s read back %d lines (rc %d), expected %d: %s"
                 % (jdir, n, rc, expected, err[:500]))
    return {"dir": "journal", "files": files, "entries_read_back": n,
            "bytes": sum(f["bytes"] for f in files)}


if __name__ == "__main__":
    sys.exit(main())
