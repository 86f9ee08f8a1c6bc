"""Progress on long reads: what the sources tell a display, and the display itself, on a real
terminal (tmux) and never on a pipe or with --json."""
import os
import pty
import select
import subprocess
import sys
import threading
import time

import pytest

from builders import ROOT, example
from unitaudit.report import progress_display
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


def _feed_slowly(fifo: str, seconds: float) -> threading.Thread:
    """A writer that hands the seed's syslog to `fifo` in pieces over `seconds`: a read that takes
    as long as the test says, whatever the machine's speed."""
    text = open(SYSLOG, "rb").read()

    def feed():
        with open(fifo, "wb") as f:  # blocks until the scan opens its end
            steps = int(seconds / 0.1)
            for i in range(steps):
                f.write(text[i * len(text) // steps:(i + 1) * len(text) // steps])
                f.flush()
                time.sleep(0.1)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    return writer


def _watched(tmp_path, *args: str):
    """`unitaudit ARGS` in a tmux terminal, its screen read every 0.1 s: the progress lines ever
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
            time.sleep(0.1)
        final = subprocess.run(tmux + ["capture-pane", "-p", "-J", "-S", "-"], capture_output=True, text=True).stdout
    finally:
        subprocess.run(tmux + ["kill-server"], capture_output=True)
    assert finished, "unitaudit did not finish within 120 s"
    return seen, final


def test_a_long_scan_shows_its_progress_on_a_terminal_and_never_with_json(tmp_path):
    """A text log that takes 4 s to arrive (a FIFO fed slowly): the display shows after its 1 s,
    and is gone before the report; with --json, in the same terminal, it never shows."""
    for json_out in (False, True):
        fifo = str(tmp_path / ("slow-%d.log" % json_out))
        os.mkfifo(fifo)
        writer = _feed_slowly(fifo, 4.0)
        seen, final = _watched(tmp_path, "scan", *(["--json"] if json_out else []), "--syslog", fifo)
        writer.join(10)
        if json_out:
            assert seen == [] and '"schema": "unitaudit.report/1"' in final
        else:
            assert any(line.startswith("slow-0.log, pass 1") for line in seen), seen
            assert ", pass " not in final and "unitaudit: 3 finding(s)" in final  # gone before the report


def test_the_display_draws_each_read_with_its_share_done(monkeypatch):
    """The display itself on a pseudo-terminal: a read's name and its percentage, as rich draws them."""
    monkeypatch.setattr(progress_display, "DELAY", 0.0)
    master, slave = pty.openpty()
    try:
        with os.fdopen(slave, "w", closefd=False) as stream:
            with progress_display.progress_display(stream) as step:
                assert step is not None
                step("syslog, pass 1", 37, 100)
                time.sleep(0.3)  # rich redraws ten times a second
                step("syslog, pass 2", 5, None)  # no total: a compressed stream
                time.sleep(0.3)
        drawn = b""
        while select.select([master], [], [], 0.2)[0]:
            drawn += os.read(master, 65536)
    finally:
        os.close(master)
        os.close(slave)
    text = drawn.decode("utf-8", "replace")
    assert "syslog, pass 1" in text and "37%" in text and "syslog, pass 2" in text


def test_no_display_on_a_pipe_or_a_file(tmp_path):
    with open(str(tmp_path / "err"), "w") as f:
        with progress_display.progress_display(f) as step:
            assert step is None


def test_a_pipe_gets_no_progress(tmp_path):
    fifo = str(tmp_path / "slow.log")
    os.mkfifo(fifo)
    writer = _feed_slowly(fifo, 2.0)
    piped = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--syslog", fifo], cwd=str(ROOT),
                           capture_output=True, text=True)
    writer.join(10)
    assert piped.returncode == 1 and piped.stderr == ""
