import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import paths  # noqa: E402,F401  puts the checkout on sys.path for `import unitaudit`

LAB_TESTS = Path(__file__).resolve().parent / "lab"


def pytest_collection_modifyitems(config, items):
    """Every test under tests/lab boots a real systemd: marked `lab`, so -m 'not lab' leaves them out."""
    for item in items:
        if LAB_TESTS in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.lab)


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """Text logs without an offset are local time: pin it so results do not depend on the host."""
    monkeypatch.setenv("TZ", "UTC")
    import time

    time.tzset()
    yield
    time.tzset()
