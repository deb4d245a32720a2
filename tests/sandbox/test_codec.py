"""Strict decoding of child frames: everything a forged frame could try is refused."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from workers.sandbox.codec import (
    ProtocolViolation,
    decode_call,
    decode_inputs,
    decode_module,
    decode_value,
    encode_job,
    encode_value,
    parse_frame,
)
from workers.sandbox.protocol import NotNumeric, SandboxCall, SandboxJob

CALL = SandboxCall(id="c", expr="f()")
TRACKED = SandboxCall(id="c", expr="f(x)", track=("x",))
TWO_TRACKED = SandboxCall(id="c", expr="f(x, y)", track=("x", "y"))
GRADIENT = SandboxCall(id="c", expr="f(w)", fd_of="f(w)", fd_wrt="w")
ONE = {"k": "f", "v": "0x1p+0"}


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
    before = array("<f8", [3], np.array([1.0, 2.0, 3.0]).tobytes())
    after = array("<f8", [3], np.array([1.0, 2.0, 0.5]).tobytes())
    outcome = decode_call(
        {"t": "call", "id": "c", "v": ONE, "ib": {"x": before}, "ia": {"x": after}},
        TRACKED,
        seconds=0.5,
        max_elements=100,
    )
    assert outcome.value == 1.0
    assert outcome.inputs_before["x"].tolist() == [1.0, 2.0, 3.0]
    assert outcome.inputs_after["x"].tolist() == [1.0, 2.0, 0.5]
    assert outcome.seconds == 0.5


def test_tracked_inputs_arrive_as_values_of_every_kind():
    inputs = {
        "x": array("<i8", [2], np.array([1, 0], dtype=np.int64).tobytes()),
        "y": {"k": "f", "v": (0.1).hex()},
    }
    outcome = decode_call(
        {"t": "call", "id": "c", "v": ONE, "ib": inputs, "ia": {"x": inputs["x"], "y": {"k": "n", "t": "sequence"}}},
        TWO_TRACKED,
        seconds=0.0,
        max_elements=100,
    )
    assert outcome.inputs_before["x"].dtype == np.int64
    assert outcome.inputs_before["y"] == 0.1
    assert outcome.inputs_after["y"] == NotNumeric(type_name="sequence")


def test_a_call_that_raised_may_still_report_its_tracked_inputs():
    error = {"type": "ValueError", "message": "m", "line": 1, "setup": False}
    reported = decode_call(
        {"t": "call", "id": "c", "e": error, "ib": {"x": ONE}, "ia": {"x": ONE}}, TRACKED, seconds=0.0, max_elements=10
    )
    assert reported.error is not None
    assert reported.inputs_after == {"x": 1.0}
    # A set-up that failed sends no inputs at all.
    bare = decode_call({"t": "call", "id": "c", "e": error}, TRACKED, seconds=0.0, max_elements=10)
    assert (bare.inputs_before, bare.inputs_after) == ({}, {})


def test_tracked_inputs_are_capped_like_results():
    big = array("<f8", [4, 3], np.zeros(12).tobytes())
    with pytest.raises(ProtocolViolation, match="too many elements"):
        decode_inputs({"x": big}, ("x",), 11)
    assert decode_inputs({"x": big}, ("x",), 12)["x"].shape == (4, 3)


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
        ({"t": "call", "id": "c", "v": ONE, "ib": {"x": ONE}, "ia": {"x": ONE}}, CALL),  # not tracked
        ({"t": "call", "id": "c", "v": ONE}, TRACKED),  # tracked inputs missing
        ({"t": "call", "id": "c", "v": ONE, "ib": {"x": ONE}}, TRACKED),  # before without after
        ({"t": "call", "id": "c", "v": ONE, "ia": {"x": ONE}}, TRACKED),  # after without before
        ({"t": "call", "id": "c", "v": ONE, "ib": {"x": ONE}, "ia": {"y": ONE}}, TRACKED),  # another name
        ({"t": "call", "id": "c", "v": ONE, "ib": {"x": ONE}, "ia": {"x": ONE, "y": ONE}}, TRACKED),  # one too many
        ({"t": "call", "id": "c", "v": ONE, "ib": {"x": ONE}, "ia": {"x": ONE}}, TWO_TRACKED),  # one too few
        ({"t": "call", "id": "c", "v": ONE, "ib": {"x": ONE}, "ia": {"x": {"k": "f", "v": 1.0}}}, TRACKED),
        ({"t": "call", "id": "c", "v": ONE, "ib": {"x": ONE}, "ia": {"x": {"k": "a", "dtype": "|O"}}}, TRACKED),
        ({"t": "call", "id": "c", "v": ONE, "ib": [ONE], "ia": [ONE]}, TRACKED),
        ({"t": "call", "id": "c", "v": ONE, "ib": {"x": ONE}, "ia": {"x": ONE}, "db": {"x": "ab" * 32}}, TRACKED),
        ({"t": "call", "id": "c", "v": ONE, "db": {"x": "ab" * 32}, "da": {"x": "ab" * 32}}, TRACKED),  # old digests
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


# --- Trusted data going in: a metric's `result` -----------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        0.1,
        float("nan"),
        -float("inf"),
        np.array([[1.5, -2.0], [np.nan, np.inf]]),
        np.arange(6, dtype=np.int32).reshape(3, 2),
        np.array([True, False]),
        np.arange(3, dtype=">i4"),  # big-endian: sent little-endian
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.zeros((0, 3)),
        np.array([1.0, 2.0], dtype=np.float16),
    ],
)
def test_a_bound_value_is_encoded_as_the_harness_encodes_results(value):
    """The host encodes `bind` values the way results come back, so a student's result
    reaches the metric's child exactly as it was decoded."""
    encoded = json.loads(json.dumps(encode_value(value)))
    decoded = decode_value(encoded, 100)

    if isinstance(value, float):
        assert decoded == value or (np.isnan(decoded) and np.isnan(value))
    else:
        assert type(decoded) is np.ndarray
        assert decoded.shape == value.shape
        assert decoded.dtype == value.dtype.newbyteorder("<")
        np.testing.assert_array_equal(decoded, value)


@pytest.mark.parametrize(
    "value", [np.array([1 + 2j]), np.array(["a"]), np.array([object()], dtype=object), np.array([1.0], dtype="<f16")]
)
def test_a_value_the_harness_would_never_send_cannot_be_bound(value):
    with pytest.raises(ValueError, match="cannot send an array"):
        encode_value(value)


def test_the_job_carries_bound_values_and_no_expected_value():
    job = SandboxJob(
        code="",
        entry_points=(),
        calls=(
            SandboxCall(id="m", expr="float(np.mean(result))", setup="x = 1.0", seed=3, bind={"result": np.ones(2)}),
            SandboxCall(id="plain", expr="1.0"),
        ),
    )

    doc = json.loads(encode_job(job))

    metric, plain = doc["calls"]
    assert metric["bind"] == {"result": encode_value(np.ones(2))}
    assert (metric["setup"], metric["seed"]) == ("x = 1.0", 3)
    assert plain["bind"] == {}
