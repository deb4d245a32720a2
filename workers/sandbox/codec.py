"""The job as the child reads it, and strict decoding of what the child sends back.

After the student's code has run, the child is fully under the student's control, so
every frame may be forged. Decoding accepts only the shapes the harness produces, within
size caps, and raises `ProtocolViolation` for anything else. It never evaluates or
unpickles anything: JSON with strings, numbers and lists; arrays from raw bytes of an
allowlisted dtype.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from workers.sandbox.protocol import CallOutcome, NotNumeric, SandboxCall, SandboxJob, StudentError, Value

# dtype strings the harness sends (little-endian, as it converts), and nothing else.
ARRAY_DTYPES = frozenset({"|b1", "|i1", "|u1", "<i2", "<i4", "<i8", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8"})
MAX_NDIM = 32
MAX_TYPE_CHARS = 200
MAX_MESSAGE_CHARS = 2000
MAX_FLOAT_CHARS = 40
MAX_LINE = 10_000_000


class ProtocolViolation(Exception):
    """A frame the trusted side cannot accept."""


def encode_job(job: SandboxJob, *, address_space_bytes: int | None = None, cwd: str = "") -> bytes:
    """The job as the child reads it; `address_space_bytes`: its RLIMIT_AS (default: the
    memory limit itself, for a host that cannot measure use); `cwd`: the data set's
    directory as the child sees it."""
    limits = job.limits
    doc = {
        "code": job.code,
        "entry_points": list(job.entry_points),
        "cell_starts": list(job.cell_starts),
        "cwd": cwd,
        # In the order of the descriptors after the job's pipes (fd 5 on).
        "hidden": [name for name, _path in job.data.hidden] if job.data else [],
        "calls": [
            {
                "id": call.id,
                "expr": call.expr,
                "setup": call.setup,
                "seed": call.seed,
                "track": list(call.track),
                "fd_of": call.fd_of,
                "fd_wrt": call.fd_wrt,
                "fd_step": call.fd_step,
                "bind": {name: encode_value(value) for name, value in call.bind.items()},
            }
            for call in job.calls
        ],
        "limits": {
            "cpu_seconds": limits.cpu_seconds,
            "memory_bytes": limits.memory_bytes,
            "address_space_bytes": address_space_bytes or limits.memory_bytes,
            "file_bytes": limits.file_bytes,
            "open_files": limits.open_files,
            "result_bytes": limits.result_bytes,
        },
    }
    return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()


def encode_value(value: float | np.ndarray) -> dict[str, Any]:
    """A float or an array as the harness encodes its results (trusted data going in)."""
    if isinstance(value, float):
        return {"k": "f", "v": value.hex()}
    little = np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<"))
    if little.dtype.str not in ARRAY_DTYPES or value.ndim == 0:
        raise ValueError(f"cannot send an array of dtype {value.dtype} and shape {value.shape}")
    return {
        "k": "a",
        "dtype": little.dtype.str,
        "shape": list(little.shape),
        "data": base64.b64encode(little.tobytes()).decode("ascii"),
    }


def _reject_constant(name: str) -> Any:
    raise ProtocolViolation(f"non-standard JSON constant {name}")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ProtocolViolation("duplicate key in frame")
    return obj


# A genuine frame holds a handful of objects and lists (arrays travel as base64 text);
# parsing millions of them would cost the worker seconds of CPU outside every limit.
MAX_FRAME_CONTAINERS = 4096


def parse_frame(payload: bytes) -> dict[str, Any]:
    if payload.count(b"{") + payload.count(b"[") > MAX_FRAME_CONTAINERS:
        raise ProtocolViolation("frame holds too many objects or lists")
    try:
        obj = json.loads(payload, parse_constant=_reject_constant, object_pairs_hook=_unique_keys)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ProtocolViolation(f"frame is not valid JSON: {type(exc).__name__}") from None
    if type(obj) is not dict or type(obj.get("t")) is not str:
        raise ProtocolViolation("frame is not an object with a type")
    return obj


def _keys(obj: dict[str, Any], required: AbstractSet[str], optional: AbstractSet[str] = frozenset()) -> None:
    keys = set(obj)
    if not required <= keys or not keys <= required | optional:
        raise ProtocolViolation(f"unexpected fields in {obj.get('t')!r} frame")


def _text(value: Any, limit: int, what: str) -> str:
    if type(value) is not str or len(value) > limit:
        raise ProtocolViolation(f"{what} is not a short string")
    return value


def decode_hello(obj: dict[str, Any]) -> str | None:
    """None when the child is locked down and ready, else its (trusted) failure message."""
    if obj["t"] != "hello":
        raise ProtocolViolation("first frame is not hello")
    _keys(obj, {"t"}, {"fatal"})
    return _text(obj["fatal"], MAX_MESSAGE_CHARS, "fatal") if "fatal" in obj else None


def decode_error(value: Any) -> StudentError:
    if type(value) is not dict:
        raise ProtocolViolation("error is not an object")
    _keys(value, {"type", "message", "line", "setup"})
    line = value["line"]
    if line is not None and (type(line) is not int or not 0 <= line <= MAX_LINE):
        raise ProtocolViolation("error line is not a line number")
    if type(value["setup"]) is not bool:
        raise ProtocolViolation("error setup flag is not a boolean")
    kind = _text(value["type"], MAX_TYPE_CHARS, "error type")
    if not kind:
        raise ProtocolViolation("error type is empty")
    return StudentError(
        type=kind,
        message=_text(value["message"], MAX_MESSAGE_CHARS, "error message"),
        line=line,
        in_setup=value["setup"],
    )


@dataclass(frozen=True)
class ModuleFrame:
    error: StudentError | None
    missing: tuple[str, ...] = ()
    cell_errors: dict[int, StudentError] = field(default_factory=dict)
    defined_at: dict[str, int] = field(default_factory=dict)


def decode_module(obj: dict[str, Any], entry_points: tuple[str, ...], *, cells: int = 0) -> ModuleFrame:
    if obj["t"] != "module":
        raise ProtocolViolation("expected the module frame")
    if "e" in obj:
        _keys(obj, {"t", "e"})
        return ModuleFrame(error=decode_error(obj["e"]))
    _keys(obj, {"t", "missing", "cells", "defined"})
    missing = obj["missing"]
    if type(missing) is not list or any(type(name) is not str or name not in entry_points for name in missing):
        raise ProtocolViolation("missing names are not entry points")
    if len(set(missing)) != len(missing):
        raise ProtocolViolation("missing names repeat")
    raw_cells = obj["cells"]
    if type(raw_cells) is not list or len(raw_cells) > cells:
        raise ProtocolViolation("cell errors are not a list of the job's cells")
    cell_errors: dict[int, StudentError] = {}
    for entry in raw_cells:
        if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not int or not 0 <= entry[0] < cells:
            raise ProtocolViolation("a cell error does not name one of the job's cells")
        if entry[0] in cell_errors:
            raise ProtocolViolation("cell errors repeat")
        cell_errors[entry[0]] = decode_error(entry[1])
    defined = obj["defined"]
    if type(defined) is not dict or any(
        name not in entry_points or type(line) is not int or not 0 < line <= MAX_LINE for name, line in defined.items()
    ):
        raise ProtocolViolation("definition lines are not entry points' lines")
    return ModuleFrame(error=None, missing=tuple(missing), cell_errors=cell_errors, defined_at=dict(defined))


def decode_float(value: Any) -> float:
    text = _text(value, MAX_FLOAT_CHARS, "number")
    try:
        return float.fromhex(text)
    except (ValueError, OverflowError):
        raise ProtocolViolation("number is not a hexadecimal float") from None


def decode_array(value: dict[str, Any], max_elements: int) -> np.ndarray:
    _keys(value, {"k", "dtype", "shape", "data"})
    dtype_str = value["dtype"]
    if type(dtype_str) is not str or dtype_str not in ARRAY_DTYPES:
        raise ProtocolViolation("array dtype is not allowed")
    shape = value["shape"]
    if type(shape) is not list or not 1 <= len(shape) <= MAX_NDIM:
        raise ProtocolViolation("array shape is not a list of dimensions")
    if any(type(dim) is not int or not 0 <= dim <= max_elements for dim in shape):
        raise ProtocolViolation("array dimension out of range")
    count = math.prod(shape)
    if count > max_elements:
        raise ProtocolViolation("array has too many elements")
    data = _text(value["data"], 4 * (count * 8 // 3 + 4), "array data")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolViolation("array data is not base64") from None
    dtype = np.dtype(dtype_str)
    if len(raw) != count * dtype.itemsize:
        raise ProtocolViolation("array data does not match its shape")
    if dtype.kind == "b" and raw.translate(None, b"\x00\x01"):
        raise ProtocolViolation("boolean array holds bytes other than 0 and 1")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def decode_value(value: Any, max_elements: int) -> Value:
    if type(value) is not dict or type(value.get("k")) is not str:
        raise ProtocolViolation("value is not an object")
    kind = value["k"]
    if kind == "f":
        _keys(value, {"k", "v"})
        return decode_float(value["v"])
    if kind == "a":
        return decode_array(value, max_elements)
    if kind == "n":
        _keys(value, {"k", "t"})
        return NotNumeric(type_name=_text(value["t"], MAX_TYPE_CHARS, "type name"))
    raise ProtocolViolation("unknown value kind")


def decode_inputs(value: Any, track: tuple[str, ...], max_elements: int) -> dict[str, Value]:
    if type(value) is not dict or set(value) != set(track):
        raise ProtocolViolation("tracked inputs do not name the tracked inputs")
    return {name: decode_value(item, max_elements) for name, item in value.items()}


def decode_call(obj: dict[str, Any], call: SandboxCall, *, seconds: float, max_elements: int) -> CallOutcome:
    if obj["t"] != "call":
        raise ProtocolViolation("expected a call frame")
    if obj.get("id") != call.id:
        raise ProtocolViolation("call frame for an unexpected call id")
    optional = {"ib", "ia"} if call.track else set()
    if "e" in obj:
        _keys(obj, {"t", "id", "e"}, optional)
        value: Value | None = None
        error: StudentError | None = decode_error(obj["e"])
    else:
        _keys(obj, {"t", "id", "v"}, optional | ({"fd"} if call.fd_of else set()))
        value, error = decode_value(obj["v"], max_elements), None
        if call.fd_of and "fd" not in obj:
            raise ProtocolViolation("gradient check values are missing")
    if ("ib" in obj) != ("ia" in obj) or (call.track and "e" not in obj and "ib" not in obj):
        raise ProtocolViolation("tracked inputs are incomplete")
    fd_values: tuple[float, ...] = ()
    if "fd" in obj:
        fd = obj["fd"]
        if type(fd) is not list or len(fd) > 2 * max_elements or len(fd) % 2:
            raise ProtocolViolation("gradient check values are not a list of pairs")
        fd_values = tuple(decode_float(item) for item in fd)
    return CallOutcome(
        id=call.id,
        value=value,
        error=error,
        inputs_before=decode_inputs(obj["ib"], call.track, max_elements) if "ib" in obj else {},
        inputs_after=decode_inputs(obj["ia"], call.track, max_elements) if "ia" in obj else {},
        fd_values=fd_values,
        seconds=seconds,
    )


def decode_end(obj: dict[str, Any]) -> None:
    if obj["t"] != "end":
        raise ProtocolViolation("expected the end frame")
    _keys(obj, {"t"})
