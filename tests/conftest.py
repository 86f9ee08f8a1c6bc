import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paths  # noqa: E402,F401  puts the checkout on sys.path for `import unitaudit`


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """Text logs without an offset are local time: pin it so results do not depend on the host."""
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    yield
    time.tzset()
