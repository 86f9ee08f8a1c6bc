"""systemd-python: the one compiled library unitaudit uses, needed only to read or write a journal.

A text log scan must work where it is missing (another distribution on a support engineer's
laptop, a Python built by hand, the package tree run by a Python other than Debian's python3), so
the import is tried once, here, and asking for a journal without it is one clear error.
"""
from types import ModuleType
from typing import Optional

from unitaudit.errors import SourceError

try:
    from systemd import journal as _journal
except ImportError:  # reading a journal says so (require); everything else works
    _journal = None

MISSING = "systemd-python, which is not installed (Debian: apt install python3-systemd)"


def available() -> bool:
    return _journal is not None


def raw_reader() -> Optional[type]:
    """systemd-python's C reader class, whose methods skip the Python converters of
    journal.Reader; None without the library (then no reader is ever opened: require fails first)."""
    return _journal._Reader if _journal is not None else None


def require(purpose: str = "reading a journal") -> ModuleType:
    """The `systemd.journal` module, or a SourceError saying that `purpose` needs it."""
    if _journal is None:
        raise SourceError("%s needs %s" % (purpose, MISSING))
    return _journal
