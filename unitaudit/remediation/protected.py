"""The protected units (unitaudit/data/protected-units.toml): pattern -> the reason it is protected."""
from pathlib import Path
from typing import Dict, Optional

from unitaudit.errors import UnitauditError

DEFAULT = Path(__file__).resolve().parent.parent / "data" / "protected-units.toml"


def load_protected(path: Optional[str] = None) -> Dict[str, str]:
    try:
        import tomllib  # type: ignore[import-not-found]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
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
