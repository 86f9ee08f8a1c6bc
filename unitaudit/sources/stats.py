"""What a source read, for the report: counts and warnings, never fatal."""
from dataclasses import dataclass
from typing import Tuple


@dataclass(frozen=True)
class SourceStats:
    kind: str  # journal, syslog, dbus
    path: str
    counts: Tuple[Tuple[str, int], ...]
    warnings: Tuple[str, ...] = ()

    def to_dict(self) -> dict:
        out = {"kind": self.kind, "path": self.path}
        out.update(dict(self.counts))
        out["warnings"] = list(self.warnings)
        return out
