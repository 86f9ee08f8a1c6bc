#!/usr/bin/python3
"""Draw bench/scale.py's results: time against entries (linear) and peak RSS against entries (flat).

    /usr/bin/python3 bench/plot.py scale.json scale.png

Two panels, text (`scan --syslog`) and journal (`scan --journal-dir`) in each: on the left the best
wall time with its baseline (grep, journalctl -D) dashed and, dotted, the time proportional to the
smallest size's; on the right the peak RSS from zero.  It runs under Debian's python3 with
python3-matplotlib, in its own process, so the rest of the bench stays standard library only; it uses
matplotlib's object API (no pyplot), which needs no display and no backend choice.
"""
import json
import sys

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

WORKS = (("text", "text: scan --syslog", "grep -cE", "tab:blue"),
         ("journal", "journal: scan --journal-dir", "journalctl -D", "tab:orange"))


def series(points, work, field):
    """(millions of entries, values) of the points that measured `field`."""
    pts = sorted((p for p in points if p[work].get(field) is not None), key=lambda p: p["entries"])
    return [p["entries"] / 1e6 for p in pts], [p[work][field] for p in pts]


def label_of(points, millions):
    for p in points:
        if p["entries"] / 1e6 == millions:
            return p["label"]
    return "%gM" % millions


def draw_time(ax, points):
    for work, label, base, color in WORKS:
        x, y = series(points, work, "seconds")
        if not x:
            continue
        ax.plot(x, y, "o-", color=color, label="unitaudit " + label)
        for xi, yi in zip(x, y):
            ax.annotate("%.2f s" % yi, (xi, yi), textcoords="offset points", xytext=(4, -12), fontsize=8)
        ax.plot([0] + x, [0] + [y[0] * xi / x[0] for xi in x], ":", color=color,
                label="proportional to the %s time" % label_of(points, x[0]))
        bx, by = series(points, work, "baseline_seconds")
        if bx:
            ax.plot(bx, by, "s--", color=color, alpha=0.5, label=base)
    ax.set_title("wall time against entries")
    ax.set_xlabel("entries (millions)")
    ax.set_ylabel("wall seconds (best of runs)")
    ax.set_xlim(left=0)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def draw_rss(ax, points):
    top = 0.0
    for work, label, _base, color in WORKS:
        x, y = series(points, work, "peak_rss_mb")
        if not x:
            continue
        top = max([top] + y)
        ax.plot(x, y, "o-", color=color, label="unitaudit " + label)
        for xi, yi in zip(x, y):
            ax.annotate("%.0f MB" % yi, (xi, yi), textcoords="offset points", xytext=(4, 6), fontsize=8)
    ax.set_title("peak RSS against entries")
    ax.set_xlabel("entries (millions)")
    ax.set_ylabel("peak RSS (MB)")
    ax.set_xlim(left=0)
    ax.set_ylim(0, max(top * 1.6, 10))
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)


def plot(results, png):
    points = results["points"]
    fig = Figure(figsize=(11, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    draw_time(fig.add_subplot(1, 2, 1), points)
    draw_rss(fig.add_subplot(1, 2, 2), points)
    days = results.get("days", 7)
    sizes = ", ".join(p["label"] for p in sorted(points, key=lambda p: p["entries"]))
    fig.suptitle("unitaudit at scale: %s entries over %g day%s" % (sizes, days, "" if days == 1 else "s"))
    fig.tight_layout()
    fig.savefig(png, format="png")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2:
        sys.stderr.write("usage: plot.py SCALE.json OUT.png\n")
        return 2
    with open(argv[0]) as f:
        plot(json.load(f), argv[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
