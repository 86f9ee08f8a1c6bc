"""Paths of the test data.  Imported by the tests as `paths` (not from conftest: tests/lab has a
conftest.py of its own, and two modules named conftest cannot both be imported by name)."""
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "examples"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def fixture(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)


def example(*parts: str) -> Path:
    p = EXAMPLES.joinpath(*parts)
    if not p.exists():
        raise AssertionError("missing recorded example %s (examples/record_lab.py records it)" % p)
    return p
