"""The frozen facts a bundle records, to JSON and back: unit states (LiveState), kernel figures
(KernelFacts, UnitCgroupNodes) and probe answers (FileInfo).

Written by collect on the machine, read by `scan --bundle` anywhere: reading is strict (a value
of the wrong type is a BundleError, never a half-built state), because a bundle is untrusted.
"""
from dataclasses import asdict, fields
from typing import Any, Dict, Optional, Tuple, Type, TypeVar

from unitaudit.errors import BundleError
from unitaudit.model import ExecStatus, FileInfo, KernelFacts, LiveState, UnitCgroupNodes, UnitFile, UnitState

T = TypeVar("T")


def to_json(value: Any) -> Any:
    """A frozen dataclass (or a tuple of them) as plain JSON values."""
    if isinstance(value, tuple) and value and hasattr(value[0], "__dataclass_fields__"):
        return [asdict(v) for v in value]
    return asdict(value)


def _tuples(value: Any) -> Any:
    """JSON lists back into the tuples the frozen types hold (recursively)."""
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def from_json(cls: Type[T], data: Any, what: str) -> T:
    """One dataclass from its JSON object: unknown keys ignored (a newer minor writer), every
    known key type-checked against the dataclass's default or annotation."""
    if not isinstance(data, dict):
        raise BundleError("%s: expected an object, found %s" % (what, type(data).__name__))
    kwargs: Dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name not in data:
            continue
        value = data[f.name]
        nested = _NESTED.get((cls, f.name))
        if nested is not None:
            if not isinstance(value, list):
                raise BundleError("%s.%s: expected a list" % (what, f.name))
            kwargs[f.name] = tuple(from_json(nested, v, "%s.%s" % (what, f.name)) for v in value)
            continue
        kwargs[f.name] = _checked(_tuples(value), f.type, "%s.%s" % (what, f.name))
    try:
        return cls(**kwargs)
    except TypeError as e:  # a required field missing
        raise BundleError("%s: %s" % (what, e)) from None


def _checked(value: Any, annotation: Any, what: str) -> Any:
    text = str(annotation)
    allowed: Tuple[type, ...]
    if annotation in (str, "str"):
        allowed = (str,)
    elif annotation in (bool, "bool"):
        allowed = (bool,)
    elif annotation in (int, "int"):
        allowed = (int,)
    elif annotation in (float, "float"):
        allowed = (int, float)
    elif "Tuple" in text or "tuple" in text:
        allowed = (tuple,)
    elif "Optional[int]" in text or "Union[int, NoneType]" in text:
        allowed = (int, type(None))
    elif "Optional[float]" in text or "Union[float, NoneType]" in text:
        allowed = (int, float, type(None))
    elif "Optional[str]" in text or "Union[str, NoneType]" in text:
        allowed = (str, type(None))
    else:
        allowed = (object,)
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise BundleError("%s: unexpected value %r" % (what, value if len(repr(value)) < 60 else type(value).__name__))
    return value


_NESTED = {
    (LiveState, "units"): UnitState,
    (LiveState, "unit_files"): UnitFile,
    (UnitState, "exec_start_pre"): ExecStatus,
    (UnitState, "exec_stop_post"): ExecStatus,
}


def live_state(data: Any) -> LiveState:
    return from_json(LiveState, data, "units.json")


def kernel_facts(data: Any) -> Optional[KernelFacts]:
    return None if data is None else from_json(KernelFacts, data, "kernel.json facts")


def unit_nodes(data: Any) -> Optional[UnitCgroupNodes]:
    return None if data is None else from_json(UnitCgroupNodes, data, "kernel.json unit_nodes")


def file_info(data: Any) -> FileInfo:
    return from_json(FileInfo, data, "probe.json stat")
