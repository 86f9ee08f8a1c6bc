"""What every test shares: the `lab` mark, local time pinned to UTC, and the seed's recorded loops
scanned once.  The checkout and tests/ are importable through pyproject.toml's `pythonpath`."""
import os
import time
from pathlib import Path

import pytest

# Every JSON document the suite makes, in this process or in a `unitaudit` it starts (they inherit
# the environment), is checked against its schema in unitaudit/schemas/ before it is written
# (report/json_out.py): a reporter drifting from its schema fails whichever test ran it, and
# tests/test_json_schemas.py need not repeat every command.
os.environ["UNITAUDIT_CHECK_SCHEMAS"] = "1"

from builders import example, fixture
from test_corpus import corpus_figures, summary_lines
from unitaudit.model import Thresholds
from unitaudit.services.scan import scan
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.kernel import KernelSource

LAB_TESTS = Path(__file__).resolve().parent / "lab"
SEED_SCANNED_AT = 1795611694.0  # just after the last entry of examples/seed-loops' recording


def pytest_collection_modifyitems(config, items):
    """Every test under tests/lab boots a real systemd: marked `lab`, so -m 'not lab' leaves them out."""
    for item in items:
        if LAB_TESTS in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.lab)


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    """Text logs without an offset are local time: pin it so results do not depend on the host."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    time.tzset()


@pytest.fixture(scope="session")
def seed():
    """A scan of the seed's three loops recorded from a real systemd (examples/seed-loops: RestartSec=5,
    an Avahi client every 5 s, logrotate every 30 s), beside the kernel figures of a real machine
    (tests/fixtures/kernel/hybrid), as of just after the recording's last entry."""
    source = JournalSource(directory=str(example("seed-loops", "journal")))
    return scan([source], Thresholds(), now=SEED_SCANNED_AT, kernel=KernelSource(str(fixture("kernel", "hybrid"))))


def pytest_terminal_summary(terminalreporter):
    """The corpus figures (tests/test_corpus.py) end every run: what the text reader reads of real
    evidence, and what it misses, in front of whoever changed it."""
    terminalreporter.section("corpus of real excerpts")
    try:
        lines = summary_lines(corpus_figures())
    except Exception as e:  # a reader that breaks on one excerpt must not hide the run's own result
        lines = ["corpus: not scanned (%s: %s); tests/test_corpus.py says where" % (type(e).__name__, e)]
    for line in lines:
        terminalreporter.write_line(line)
