"""Strict decoding of child frames: everything a forged frame could try is refused."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from workers.sandbox.codec import (
    ProtocolViolation,
    decode_call,
    decode_module,
    decode_value,
    parse_frame,
)
from workers.sandbox.protocol import NotNumeric, SandboxCall

CALL = SandboxCall(id="c", expr="f()")
TRACKED = SandboxCall(id="c", expr="f(x)", track=("x",))
GRADIENT = SandboxCall(id="c", expr="f(w)", fd_of="f(w)", fd_wrt="w")
DIGEST = "ab" * 32


def array(dtype: str, shape: list, raw: bytes) -> dict:
    return {"k": "a", "dtype": dtype, "shape": shape, "data": base64.b64encode(raw).decode()}


def test_it_decodes_what_the_harness_sends():
    assert decode_value({"k": "f", "v": (0.1).hex()}, 100) == 0.1
    assert decode_value({"k": "f", "v": "nan"}, 100) != decode_value({"k": "f", "v": "nan"}, 100)
    assert decode_value({"k": "f", "v": "-inf"}, 100) == float("-inf")
    assert decode_value({"k": "n", "t": "str"}, 100) == NotNumeric(type_name="str")
    decoded = decode_value(array("<f8", [2, 2], np.arange(4.0).tobytes()), 100)
    assert type(decoded) is np.ndarray
    assert decoded.flags.writeable
    np.testing.assert_array_equal(decoded, np.arange(4.0).reshape(2, 2))
    outcome = decode_call(
        {"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}, "db": {"x": DIGEST}, "da": {"x": DIGEST}},
        TRACKED,
        seconds=0.5,
        max_elements=100,
    )
    assert outcome.value == 1.0
    assert outcome.digests_after == {"x": DIGEST}
    assert outcome.seconds == 0.5


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"t": "call", "t": "end"}',  # duplicate key
        b'{"t": "call", "id": "c", "v": {"k": "f", "v": NaN}}',  # non-standard constant
        b"[" * 100_000 + b"]" * 100_000,  # nesting deep enough to exhaust recursion
        b'{"t": 1}',
        b"\xff\xfe",
    ],
)
def test_it_refuses_frames_that_are_not_json_objects(payload):
    with pytest.raises(ProtocolViolation):
        parse_frame(payload)


@pytest.mark.parametrize(
    "value",
    [
        {"k": "f", "v": 1.0},  # a JSON number, not the hex text
        {"k": "f", "v": True},
        {"k": "f", "v": "0x1p+0" + " " * 100},
        {"k": "f", "v": "one"},
        {"k": "f", "v": "0x1p+0", "extra": 1},
        {"k": "n", "t": "x" * 1000},
        {"k": "n", "t": 3},
        {"k": "z"},
        {"k": "a", "dtype": "|O", "shape": [1], "data": base64.b64encode(b"\0" * 8).decode()},
        {"k": "a", "dtype": "<c16", "shape": [1], "data": base64.b64encode(b"\0" * 16).decode()},
        {"k": "a", "dtype": ">f8", "shape": [1], "data": base64.b64encode(b"\0" * 8).decode()},
        {"k": "a", "dtype": "<f8", "shape": [2], "data": base64.b64encode(b"\0" * 8).decode()},  # too short
        {"k": "a", "dtype": "<f8", "shape": [1.0], "data": base64.b64encode(b"\0" * 8).decode()},
        {"k": "a", "dtype": "<f8", "shape": [True], "data": base64.b64encode(b"\0" * 8).decode()},
        {"k": "a", "dtype": "<f8", "shape": [-1], "data": ""},
        {"k": "a", "dtype": "<f8", "shape": [], "data": base64.b64encode(b"\0" * 8).decode()},
        {"k": "a", "dtype": "<f8", "shape": [10**6, 10**6], "data": ""},
        {"k": "a", "dtype": "<f8", "shape": [1], "data": "!!!!"},
        {"k": "a", "dtype": "|b1", "shape": [1], "data": base64.b64encode(b"\x02").decode()},
        {"k": "a", "dtype": "<f8", "shape": [1]},
        "0x1p+0",
        None,
    ],
)
def test_it_refuses_forged_values(value):
    with pytest.raises(ProtocolViolation):
        decode_value(value, 1000)


@pytest.mark.parametrize(
    ("frame", "call"),
    [
        ({"t": "call", "id": "other", "v": {"k": "f", "v": "0x1p+0"}}, CALL),
        ({"t": "call", "id": "c"}, CALL),  # neither value nor error
        ({"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}, "e": {}}, CALL),
        ({"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}, "db": {"x": DIGEST}}, CALL),  # not tracked
        ({"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}}, TRACKED),  # digests missing
        ({"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}, "db": {"x": DIGEST}, "da": {"y": DIGEST}}, TRACKED),
        ({"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}, "db": {"x": "zz"}, "da": {"x": DIGEST}}, TRACKED),
        ({"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}}, GRADIENT),  # gradient values missing
        ({"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}, "fd": ["0x1p+0"]}, GRADIENT),  # odd count
        ({"t": "call", "id": "c", "v": {"k": "f", "v": "0x1p+0"}, "fd": [1.0, 2.0]}, GRADIENT),
        ({"t": "call", "id": "c", "e": {"type": "E", "message": "m", "line": True, "setup": False}}, CALL),
        ({"t": "call", "id": "c", "e": {"type": "", "message": "m", "line": None, "setup": False}}, CALL),
        ({"t": "call", "id": "c", "e": {"type": "E", "message": "m" * 5000, "line": 1, "setup": False}}, CALL),
        ({"t": "call", "id": "c", "e": {"type": "E", "message": "m", "line": 1}}, CALL),
        ({"t": "end"}, CALL),
    ],
)
def test_it_refuses_forged_call_frames(frame, call):
    with pytest.raises(ProtocolViolation):
        decode_call(json.loads(json.dumps(frame)), call, seconds=0.0, max_elements=1000)


@pytest.mark.parametrize(
    "frame",
    [
        {"t": "call", "id": "c"},
        {"t": "module", "missing": ["not_an_entry_point"]},
        {"t": "module", "missing": ["f", "f"]},
        {"t": "module", "missing": "f"},
        {"t": "module", "missing": [], "e": None},
    ],
)
def test_it_refuses_forged_module_frames(frame):
    with pytest.raises(ProtocolViolation):
        decode_module(frame, ("f", "g"))
