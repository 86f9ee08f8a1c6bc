"""Every type that crosses a package boundary, frozen: import them from here.

sources --> Event/Sightings --> analysis (evidence, detectors, diagnosis) --> Finding --> reporters
Finding --> remediation (Recipe, Plan) --> a fix run (runs.py) --> reporters

The definitions live in the submodules by subject; this module only gathers them.
"""
from unitaudit.model.events import PROGRAM_LINE_LEAD, Event, Kind, Message, Sightings
from unitaudit.model.findings import Cause, CauseKind, Churn, Diagnosis, Finding, FindingKind
from unitaudit.model.plans import (Action, Applies, Check, Operation, OperationKind, Plan, PlannedStep, Recipe,
                                   Refusal, Step, Undo, Verify)
from unitaudit.model.runs import (FixOutcome, FixStatus, IncrementalRead, Outcome, ReadFrom, RoundOutcome, RunInfo,
                                  RunOrigin, RunStatus, RunSummary, UndoOutcome, UndoReport)
from unitaudit.model.scans import Progress, ScanResult, SourceStats, Thresholds
from unitaudit.model.settings import Config
from unitaudit.model.system import (DkmsProvider, ExecStatus, FileInfo, KernelFacts, LiveState, Measurement,
                                    UnitCgroupNodes, UnitFile, UnitState)

__all__ = [
    "PROGRAM_LINE_LEAD", "Event", "Kind", "Message", "Sightings",
    "Cause", "CauseKind", "Churn", "Diagnosis", "Finding", "FindingKind",
    "Action", "Applies", "Check", "Operation", "OperationKind", "Plan", "PlannedStep", "Recipe", "Refusal", "Step",
    "Undo", "Verify",
    "FixOutcome", "FixStatus", "IncrementalRead", "Outcome", "ReadFrom", "RoundOutcome", "RunInfo", "RunOrigin",
    "RunStatus", "RunSummary", "UndoOutcome", "UndoReport", "Config",
    "Progress", "ScanResult", "SourceStats", "Thresholds",
    "DkmsProvider", "ExecStatus", "FileInfo", "KernelFacts", "LiveState", "Measurement", "UnitCgroupNodes", "UnitFile",
    "UnitState",
]
