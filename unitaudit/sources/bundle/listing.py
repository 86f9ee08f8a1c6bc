"""An `ls -alR` listing read back as the metadata of the directories it shows: a sos report keeps
`ls -alRh /var/log/` (sos_commands/logs/ls_-alRh_.var.log) but not /var/log's directories, whose
modes and owners the logrotate diagnosis needs.

Each directory's own "." line gives its mode, owner and group.  ls prints names, not numbers: a
uid or gid is known only for root (0).  The listing is report text: a line that does not parse
is skipped, a path that is not absolute and normal is not used.
"""
import re
import stat as stat_module
from typing import Dict

from unitaudit.model import FileInfo
from unitaudit.util.names import is_safe_path

LOG_LISTING = "/sos_commands/logs/ls_-alRh_.var.log"
# type, then rwx for user, group, others, with setuid/setgid/sticky as s/S and t/T; "+" or "." after
_MODE = re.compile(r"d([r-][w-][xsS-])([r-][w-][xsS-])([r-][w-][xtT-])[.+@]?")
_SPECIAL = {0: (stat_module.S_ISUID, "sS"), 1: (stat_module.S_ISGID, "sS"), 2: (stat_module.S_ISVTX, "tT")}


def _bits(triples) -> int:
    mode = 0
    for i, triple in enumerate(triples):
        shift = 6 - 3 * i
        mode |= (4 if triple[0] == "r" else 0) << shift
        mode |= (2 if triple[1] == "w" else 0) << shift
        mode |= (1 if triple[2] in "xst" else 0) << shift
        if triple[2] in _SPECIAL[i][1]:
            mode |= _SPECIAL[i][0]
    return mode


def directories(text: str) -> Dict[str, FileInfo]:
    """path -> FileInfo of each directory the listing shows by its own "." line."""
    out: Dict[str, FileInfo] = {}
    current = None
    for line in text.splitlines():
        fields = line.split(None, 8)
        if line.endswith(":") and len(fields) < 9:  # a directory's header; only an absolute one is used
            current = (line[:-1].rstrip("/") or "/") if line.startswith("/") else None
            continue
        if current is None or len(fields) < 9 or fields[8] != "." or not is_safe_path(current):
            continue
        m = _MODE.fullmatch(fields[0])
        if m is None:
            continue
        mode = _bits(m.groups())
        owner, group = fields[2], fields[3]
        out[current] = FileInfo(current, True, is_dir=True, mode=mode,
                                mode_text=stat_module.filemode(stat_module.S_IFDIR | mode), mode_octal="%04o" % mode,
                                uid=0 if owner == "root" else None, gid=0 if group == "root" else None,
                                owner=owner, group=group)
    return out
