"""The systemd journal, read through systemd-python without walking every entry.

The entry point is `JournalSource`.  Each kind of evidence is one indexed pass
(passes.py; the journal evaluates one match group much faster than a
disjunction of all of them):
  PID 1's unit messages      MESSAGE_ID in (restart, result, process exited, spawn, success), _PID=1, _UID=0
  systemd-executor (257)     MESSAGE_ID=spawn failed, _UID=0
  the system bus daemon      _COMM=dbus-daemon, _SYSTEMD_UNIT=dbus.service
  dbus-broker                its two MESSAGE_IDs, _SYSTEMD_UNIT=dbus-broker.service
  logrotate                  _SYSTEMD_UNIT=logrotate.service, then SYSLOG_IDENTIFIER=logrotate (cron)
  systemd 235-239            _PID=1, _UID=0 text, only when the journal has none of 240's MESSAGE_IDs
  inside failing units       _SYSTEMD_UNIT=<unit>, lines logged just before its process failed
                             (`modprobe: FATAL: Module vfs_monitor not found ...`)

Raw `_next()`/`_get()` are used instead of the Reader's per-entry converters,
which cost about 4x, and each pass reads as few fields as it can (classify.py).
Trust comes from journald's own fields (_PID, _UID, _SYSTEMD_UNIT), never from
MESSAGE_ID, SYSLOG_IDENTIFIER or UNIT, which any local user can set.  logrotate
run outside logrotate.service (cron) is read, untrusted.

  source.py    JournalSource: the files checked, the incremental window, one read per machine
  files.py     the files of --journal-dir/--journal-file: found, checked, probed for damage
  reader.py    the journal opened through systemd-python; its machines, latest boot, cursors
  passes.py    the indexed passes and their hot loop
  classify.py  journal entries into Messages
"""
from unitaudit.sources.journal.source import JournalSource

__all__ = ["JournalSource"]
