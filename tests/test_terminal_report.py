"""The scan report as a person sees it: run in a real terminal (tmux, at 80, 120 and 200 columns),
captured from the screen, and read back.

tmux is the terminal: unitaudit finds a tty, its size and colours as on a desktop, and whatever
it prints too wide the terminal wraps onto a second row, which `capture-pane -J` joins again, so
a joined line longer than the window is a line the report failed to fold.  The evidence is the
recorded bundle of the seed's lab (examples/bundle-seed), whose report has the live diagnosis,
and the seed's journal directory.
"""
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from builders import ROOT, example, in_terminal, report_fields

BUNDLE = str(example("bundle-seed", "unitaudit-bundle-seed.tar.xz"))
JOURNAL = str(example("seed-loops", "journal"))


def _in_terminal(tmp_path, columns: int, *args: str) -> str:
    return in_terminal(tmp_path, columns, [sys.executable, "-m", "unitaudit"] + list(args))


def _json(*args: str) -> dict:
    p = subprocess.run([sys.executable, "-m", "unitaudit", *args, "--json"], cwd=str(ROOT), capture_output=True,
                       text=True)
    assert p.returncode == 1, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("columns", [80, 120, 200])
def test_the_bundle_report_fits_its_terminal_and_says_everything_whole(tmp_path, columns):
    screen = _in_terminal(tmp_path, columns, "scan", "--bundle", BUNDLE)
    widest = max(len(line) for line in screen.splitlines())
    assert widest <= columns, "a line of %d columns at %d:\n%s" % (widest, columns, screen)
    doc = _json("scan", "--bundle", BUNDLE)
    assert len(doc["findings"]) == 3
    rows = screen.splitlines()
    for f in doc["findings"]:
        # the summary: one row per finding with its kind, unit and count, the unit never cut
        assert any(f["kind"] in row and f["unit"] in row and "{:,}".format(f["count"]) in row for row in rows)
        assert any(row.endswith("%s: %s" % (f["unit"], f["kind"])) for row in rows)  # its block's headline
    assert sorted(report_fields(screen, "Cause")) == sorted(f["cause"]["summary"] for f in doc["findings"])
    assert sorted(report_fields(screen, "Diagnosis")) == sorted(
        "%s: %s" % (f["diagnosis"]["verdict"], f["diagnosis"]["summary"]) for f in doc["findings"])
    assert sorted(report_fields(screen, "Fix")) == sorted(
        "unitaudit fix --bundle %s --finding %s --dry-run" % (BUNDLE, f["id"]) for f in doc["findings"])
    assert "\u25cf deepin-anything-monitor.service: restart-loop" in screen  # systemctl's dot, on a UTF-8 terminal


def test_the_terminal_shows_what_a_pipe_of_its_width_gets(tmp_path):
    """The layout depends on the width only: COLUMNS=80 through a pipe is the 80-column screen
    without its colours (what a person pastes into a ticket is what they saw)."""
    screen = _in_terminal(tmp_path, 80, "scan", "--journal-dir", JOURNAL)
    piped = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--journal-dir", JOURNAL], cwd=str(ROOT),
                           capture_output=True, text=True, env=dict(os.environ, COLUMNS="80"))
    assert "\x1b" not in piped.stdout
    assert screen == "\n".join(line.rstrip() for line in piped.stdout.splitlines()) + "\n"
    assert max(len(line) for line in screen.splitlines()) <= 80


def test_colours_mark_severity_and_no_color_turns_them_off(tmp_path):
    coloured = in_terminal(tmp_path, 80, [sys.executable, "-m", "unitaudit", "scan", "--bundle", BUNDLE], escapes=True)
    red = [line for line in coloured.splitlines() if "restart-loop" in line and "\x1b[" in line]
    assert red and all("31m" in line for line in red)  # a loop: red
    plain = in_terminal(tmp_path, 80, [sys.executable, "-m", "unitaudit", "scan", "--bundle", BUNDLE],
                        env_extra={"NO_COLOR": "1"}, escapes=True)
    colour = re.compile("\x1b\\[(?:[0-9]+;)*(?:3[0-8]|9[0-7])(?:;[0-9]+)*m")  # a foreground colour; bold and dim stay
    assert colour.search(coloured) and not colour.search(plain) and "restart-loop" in plain


def test_a_pipe_gets_80_columns_and_no_colour(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--bundle", BUNDLE], cwd=str(ROOT),
                       capture_output=True, text=True, env=env)
    assert p.returncode == 1, p.stderr
    assert "\x1b" not in p.stdout
    assert max(len(line) for line in p.stdout.splitlines()) <= 80, [x for x in p.stdout.splitlines() if len(x) > 80]


@pytest.mark.parametrize("command", [["fix", "--dry-run"], ["churn"]], ids=["fix-dry-run", "churn"])
def test_the_plan_and_the_churn_fit_80_columns_with_their_paths_whole(tmp_path, command):
    screen = _in_terminal(tmp_path, 80, *command, "--bundle", BUNDLE)
    assert max(len(line) for line in screen.splitlines()) <= 80, screen
    words = set(screen.split())
    doc = _json(*command, "--bundle", BUNDLE)
    if command[0] == "fix":  # every file the plan writes or moves, named whole
        paths = {op.get("path") for s in doc["steps"] for op in s["operations"]} - {None}
        assert paths and paths <= words
    else:  # every looping unit, whole
        assert {loop["unit"] for loop in doc["loops"]} <= {w.rstrip(":") for w in words}


def test_a_bundle_deep_in_the_file_system_keeps_its_fix_command_whole_and_in_the_window():
    """The fix command repeats the bundle's path; one too long for the Fix field's indent moves
    left (CI's clone under /check/work/main printed 83 columns at 80 when it did not)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as top:  # pytest's tmp_path may be longer than 76
        _deep_bundle(Path(top))


def _deep_bundle(top: Path) -> None:
    deep = top / "evidence" / "bundles"
    deep.mkdir(parents=True)
    bundle = deep / ("b" * (76 - len(str(deep)) - 1 - len(".tar.xz")) + ".tar.xz")
    bundle.symlink_to(BUNDLE)
    assert len(str(bundle)) == 76  # fits 80 columns only at an indent of 2
    p = subprocess.run([sys.executable, "-m", "unitaudit", "scan", "--bundle", str(bundle)], cwd=str(ROOT),
                       capture_output=True, text=True, env=dict(os.environ, COLUMNS="80"))
    assert p.returncode == 1, p.stderr
    assert max(len(line) for line in p.stdout.splitlines()) <= 80, p.stdout
    assert "  %s \\" % bundle in p.stdout.splitlines()
    ids = [f["id"] for f in _json("scan", "--bundle", str(bundle))["findings"]]
    assert sorted(report_fields(p.stdout, "Fix")) == sorted(
        "unitaudit fix --bundle %s --finding %s --dry-run" % (bundle, i) for i in ids)


def test_a_word_wider_than_the_window_keeps_its_indent_and_overflows():
    from unitaudit.report.text_layout import command_lines
    lines = command_lines(["unitaudit fix", "--bundle", "/" + "x" * 90, "--dry-run"], 80, " " * 13)
    assert lines == [" " * 13 + "unitaudit fix --bundle \\", " " * 15 + "/" + "x" * 90 + " \\", " " * 15 + "--dry-run"]


def test_a_folded_path_too_long_for_its_indent_moves_left_and_one_too_long_for_any_line_overflows():
    from unitaudit.report.text_layout import fold
    deep, deeper = "/" + "p" * 75, "/" + "q" * 85
    assert fold("from %s" % deep, 80, "    ", " " * 8) == ["    from", "    " + deep]
    assert fold("from %s and on" % deeper, 80, "    ", " " * 8) == ["    from", " " * 8 + deeper, "        and on"]
