"""Every type that crosses a package boundary, frozen: import them from here.

sources --> Event/Sightings --> analysis (evidence, detectors, diagnosis) --> Finding --> reporters
Finding --> remediation (Recipe, Plan) --> a fix run (runs.py) --> reporters

The definitions live in the submodules by subject; this module only gathers them, and lazily: a
name is imported from its submodule when first asked for (PEP 562), so a scan does not build the
fix-run and recipe classes it never uses (frozen dataclasses cost start-up time: the plans and runs
modules alone took 11 ms of a 60 ms start on Debian's python3).
"""
import importlib

_SUBMODULE = {name: submodule for submodule, names in (
    ("events", ("PROGRAM_LINE_LEAD", "Event", "Kind", "Message", "Sightings")),
    ("findings", ("Cause", "CauseKind", "Churn", "Diagnosis", "Finding", "FindingKind")),
    ("plans", ("Action", "Applies", "Check", "Operation", "OperationKind", "Plan", "PlannedStep", "Recipe",
               "Refusal", "Step", "Undo", "Verify")),
    ("runs", ("FixOutcome", "FixStatus", "IncrementalRead", "Outcome", "ReadFrom", "RoundOutcome", "RunInfo",
              "RunOrigin", "RunStatus", "RunSummary", "UndoOutcome", "UndoReport")),
    ("scans", ("Progress", "ScanResult", "SourceStats", "Thresholds")),
    ("settings", ("Config",)),
    ("system", ("DkmsProvider", "ExecStatus", "FileInfo", "KernelFacts", "LiveState", "Measurement",
                "UnitCgroupNodes", "UnitFile", "UnitState")),
) for name in names}

__all__ = sorted(_SUBMODULE)


def __getattr__(name):
    """`from unitaudit.model import Finding`: the class, its submodule imported on first use."""
    submodule = _SUBMODULE.get(name)
    if submodule is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("unitaudit.model." + submodule), name)
    globals()[name] = value
    return value
