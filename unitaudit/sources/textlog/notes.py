"""What reading one text log counted and has to warn of: the source's stats as they grow."""
from typing import Dict, List

from unitaudit.sources.textlog.bounded import MAX_LINE, LineCut

# Unread lines (evidence-like lines nothing could read: `unparsed`) kept to show the user what
# was skipped: the first few of each file, each cut short.
UNREAD_KEPT = 5
UNREAD_CHARS = 300


def unread_sample(line: bytes) -> str:
    """An unread line as kept for the report (made safe for a terminal only when printed)."""
    text = line[:UNREAD_CHARS * 4].decode("utf-8", "replace").rstrip("\r\n")
    return text if len(text) <= UNREAD_CHARS else text[:UNREAD_CHARS] + "..."


class ReadNotes:
    def __init__(self, path: str) -> None:
        self.path = path
        self.counts: Dict[str, int] = {"matched": 0, "events": 0, "unparsed": 0, "undated": 0, "outside_window": 0}
        self.warnings: List[str] = []
        self.unread: List[str] = []  # the first UNREAD_KEPT unparsed lines
        # the lines cut by the read of every line; the request pass, which rereads them, counts its own
        self.cut = LineCut()

    def damaged(self, e: BaseException) -> None:
        self.warnings.append("%s: stopped reading at damaged data (%s); lines before it were read" % (self.path, e))

    def note_cut(self) -> None:
        """One count and one warning of the lines cut so far, however often said."""
        n = self.cut.n
        if n and self.counts.get("lines_cut") != n:
            self.counts["lines_cut"] = n
            self.warnings[:] = [w for w in self.warnings if " longer than " not in w]
            self.warnings.append("%s: %d line(s) longer than %d KiB: only their first %d KiB were read"
                                 % (self.path, n, MAX_LINE >> 10, MAX_LINE >> 10))

    def add_read(self, matched: int, events: int, unparsed: int, undated: int, outside: int) -> None:
        """The counts of one pass over the matching lines."""
        c = self.counts
        c["matched"] += matched
        c["events"] += events
        c["unparsed"] += unparsed
        c["undated"] += undated
        c["outside_window"] += outside
