"""The embedded broker: a consumer never sees half a message, and a broken one does not
stop the worker. (Found by the embedded benchmark: kombu's own transport let a polling
worker take a message file before it was written, and the worker died decoding it.)"""

from __future__ import annotations

import os
from pathlib import Path
from queue import Empty

import pytest
from kombu import Connection

from config.settings.base import filesystem_broker_options
from workers.filesystem_broker import INCOMING_PREFIX, Transport


@pytest.fixture
def channel(tmp_path: Path):
    connection = Connection("filesystem://", transport=Transport, transport_options=filesystem_broker_options(tmp_path))
    yield connection.default_channel
    connection.release()


def test_a_message_arrives_whole_and_leaves_nothing_behind(channel, tmp_path):
    channel._put("grading", {"body": "x" * 100_000})
    assert channel._get("grading") == {"body": "x" * 100_000}
    assert os.listdir(tmp_path / "messages") == []


def test_a_message_still_being_written_is_invisible(channel, tmp_path):
    """What a producer holds before its rename: the consumer passes it by."""
    (tmp_path / "messages" / f"{INCOMING_PREFIX}0123").write_bytes(b"")
    with pytest.raises(Empty):
        channel._get("grading")


def test_an_undecodable_message_is_dropped_not_fatal(channel, tmp_path):
    (tmp_path / "messages" / "1_abc.grading.msg").write_bytes(b"")  # what kombu's own _put could expose
    with pytest.raises(Empty):
        channel._get("grading")
    channel._put("grading", {"n": 1})
    assert channel._get("grading") == {"n": 1}
