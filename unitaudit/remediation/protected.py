"""The protected units (unitaudit/data/protected-units.toml): pattern -> the reason it is protected.

The configuration's [protected] table adds to them (`merge_protected`); it never replaces or
removes a packaged entry."""
from pathlib import Path
from typing import Dict, Iterable, Optional, Tuple

from unitaudit.errors import UnitauditError

try:
    import tomllib  # type: ignore[import-not-found]  # Python 3.11+
except ImportError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

DEFAULT = Path(__file__).resolve().parent.parent / "data" / "protected-units.toml"


def load_protected(path: Optional[str] = None) -> Dict[str, str]:
    where = Path(path) if path else DEFAULT
    try:
        with open(where, "rb") as f:
            data = tomllib.load(f)
    except (OSError, ValueError) as e:
        raise UnitauditError("%s: cannot read the protected units: %s" % (where, e)) from None
    units = data.get("units")
    if not isinstance(units, dict) or not all(isinstance(k, str) and isinstance(v, str) and v for k, v in units.items()):
        raise UnitauditError("%s: [units] must map unit patterns to a reason each" % where)
    return dict(units)


def merge_protected(packaged: Dict[str, str], additions: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """The packaged protected units, then the admin's (glob, reason) additions beside them.  A glob
    in both keeps the packaged reason: the configuration adds protection, it cannot replace or
    remove any.  The packaged entries come first, so a unit both match is refused with the
    packaged reason."""
    merged = dict(packaged)
    for glob, reason in additions:
        merged.setdefault(glob, reason)
    return merged
