import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
EXAMPLES = ROOT / "examples"
sys.path.insert(0, str(ROOT))


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """Text logs without an offset are local time: pin it so results do not depend on the host."""
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    yield
    time.tzset()


def fixture(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)


def example(*parts: str) -> Path:
    p = EXAMPLES.joinpath(*parts)
    if not p.exists():
        raise AssertionError("missing recorded example %s (examples/record_lab.py records it)" % p)
    return p
