"""What the three diagnoses share: who owns a file, and how to say it."""
from __future__ import annotations
from typing import TYPE_CHECKING, Optional, Tuple

from unitaudit.errors import ProbeUnavailable

if TYPE_CHECKING:  # the probing interface is passed in: analysis reads no system itself
    from unitaudit.sources.probe import SystemProbe

# package_lookup values
FOUND = "found"
NOT_OWNED = "not-owned"
UNAVAILABLE = "unavailable"  # no dpkg database or dpkg-query: ownership unknown, not "none"


def owning_package(probe: SystemProbe, path: Optional[str]) -> Tuple[Optional[str], str]:
    """(package, package_lookup) for a file."""
    if not path:
        return None, UNAVAILABLE
    try:
        package = probe.package_of(path)
    except (ProbeUnavailable, ValueError):
        return None, UNAVAILABLE
    return (package, FOUND) if package else (None, NOT_OWNED)


def package_words(package: Optional[str], lookup: str) -> str:
    if package:
        return "package " + package
    return "not owned by any package" if lookup == NOT_OWNED else "package unknown"
