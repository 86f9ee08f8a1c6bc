"""Progress on long reads: what the sources tell a display, and the display itself, on a real
terminal (tmux) and never on a pipe or with --json."""
import os
import subprocess
import sys
import time

import pytest

from builders import ROOT, example
from unitaudit.sources.journal import JournalSource
from unitaudit.sources.journal import passes
from unitaudit.sources.textlog import TextLogSource

JOURNAL = str(example("seed-loops", "journal"))
SYSLOG = str(example("seed-loops", "journal.short.txt"))


def _calls(source):
    calls = []
    source.progress = lambda what, done, total: calls.append((what, done, total))
    for _ in source.events():
        pass
    return calls


def test_each_journal_pass_says_how_far_into_the_journal_it_is(monkeypatch):
    monkeypatch.setattr(passes, "PROGRESS_EVERY", 1)  # the seed's journal is small: every entry
    calls = _calls(JournalSource(directory=JOURNAL))
    assert calls
    for what, done, total in calls:
        assert what.startswith("journal, pass ")  # the directory's name: a display's line is narrow
        assert total > 0 and 0 <= done <= total
    by_pass = {}
    for what, done, _total in calls:
        by_pass.setdefault(what, []).append(done)
    assert len(by_pass) >= 2
    assert all(seq == sorted(seq) for seq in by_pass.values())  # a pass goes forward in time


def test_without_a_display_no_pass_is_slowed_by_one():
    source = JournalSource(directory=JOURNAL)
    assert source.progress is None
    assert sum(1 for _ in source.events())  # and it reads as before


@pytest.mark.parametrize("use_grep", [True, False])
def test_a_text_log_says_how_many_of_its_bytes_were_read(use_grep):
    calls = _calls(TextLogSource(SYSLOG, use_grep=use_grep))
    size = os.path.getsize(SYSLOG)
    assert calls and all(total == size and 0 <= done <= size for _w, done, total in calls)
    assert {w for w, _d, _t in calls} <= {"journal.short.txt, pass 1", "journal.short.txt, pass 2"}


def _big_log(tmp_path, megabytes: int) -> str:
    """The seed's syslog repeated to `megabytes`: a scan long enough for the display to show."""
    text = open(SYSLOG, "rb").read()
    path = tmp_path / "big.log"
    with open(str(path), "wb") as f:
        for _ in range(megabytes * (1 << 20) // len(text) + 1):
            f.write(text)
    return str(path)


def _watched(tmp_path, *args: str):
    """`unitaudit ARGS` in a tmux terminal, its screen read every 0.2 s: the progress lines ever
    seen, and the screen once it has exited."""
    conf = tmp_path / "tmux.conf"
    conf.write_text("set -g remain-on-exit on\nset -g history-limit 50000\n")
    tmux = ["tmux", "-f", str(conf), "-S", str(tmp_path / "tmux.socket")]
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color")
    env.pop("TMUX", None)
    subprocess.run(tmux + ["new-session", "-d", "-x", "100", "-y", "30", "--", sys.executable, "-m", "unitaudit"]
                   + list(args), cwd=str(ROOT), env=env, check=True)
    seen, finished = [], False
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not finished:
            screen = subprocess.run(tmux + ["capture-pane", "-p"], capture_output=True, text=True).stdout
            seen += [line for line in screen.splitlines() if ", pass " in line]
            finished = subprocess.run(tmux + ["display-message", "-p", "#{pane_dead}"], capture_output=True,
                                      text=True).stdout.strip() == "1"
            time.sleep(0.2)
        final = subprocess.run(tmux + ["capture-pane", "-p", "-J", "-S", "-"], capture_output=True, text=True).stdout
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
    assert finished, "unitaudit did not finish within 120 s"
    return seen, final


def test_a_long_scan_shows_its_progress_on_a_terminal_and_never_with_json(tmp_path):
    log = _big_log(tmp_path, 150)
    seen, final = _watched(tmp_path, "scan", "--syslog", log)
    assert seen, "no progress line was ever on the screen"
    assert any(line.startswith("big.log, pass 1") and line.rstrip().endswith("%") for line in seen), seen
    assert ", pass " not in final and "unitaudit: 3 finding(s)" in final  # gone before the report
    seen, final = _watched(tmp_path, "scan", "--json", "--syslog", log)
    assert seen == [] and '"schema": "unitaudit.report/1"' in final


def test_a_pipe_gets_no_progress(tmp_path):
    log = _big_log(tmp_path, 150)
    piped = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--syslog", log], cwd=str(ROOT),
                           capture_output=True, text=True)
    assert piped.returncode == 1 and piped.stderr == ""
