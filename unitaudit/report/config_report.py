"""What `unitaudit config check` prints for a valid configuration: the file, then its settings,
one per line, so a line outgrows 80 columns only when a path does.  (Its problems are error
lines, worded by config.check_config.)"""
from typing import IO

from unitaudit.report.safe_text import safe


def write_text(config, out: IO[str]) -> None:
    """`config`: a config.Config.  Paths and ids are shown escaped, as in every human report."""
    out.write("%s: valid%s\n" % (safe(config.path or "no configuration file"),
                                  "" if config.path else " (all defaults)"))
    out.write("  window %g h, retention %g days\n" % (config.window / 3600, config.retention / 86400))
    out.write("  prometheus %s\n" % safe(config.prometheus_path or "(off)"))
    out.write("  auto-apply %s\n" % safe(" ".join(config.auto_apply) or "(none)"))
    out.write("  %d protected addition(s)\n" % len(config.protected))
