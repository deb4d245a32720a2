"""kombu's filesystem transport (the broker of the embedded defaults), safe for a web
process and a worker sharing one folder.

kombu creates a message file, then writes it; a worker polling in between took the empty
file, failed to decode it and stopped ("Unrecoverable error: JSONDecodeError"), leaving
every later submission queued. Measured on this machine: the embedded benchmark's
worker died so after 72 submissions. Here a message is written under a name the
consumer ignores and renamed into place, so a consumer sees all of it or nothing; and a
file that still cannot be decoded is dropped with an error in the log instead of
stopping the worker (its job stays queued in the database, and the sweeper sends it
again).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

logger = logging.getLogger(__name__)

# kombu's consumer takes files named "<ms>_<uuid>.<queue>.msg"; this prefix never matches.
INCOMING_PREFIX = ".incoming-"


class Channel(filesystem.Channel):
    # Signatures as kombu's filesystem Channel has them (its stubs ignore the same
    # mismatch with the abstract channel).
    def _put(self, queue: str, payload: dict[str, Any], **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        temporary = os.path.join(self.data_folder_out, INCOMING_PREFIX + uuid.uuid4().hex)
        try:
            with open(temporary, "wb") as written:
                written.write(str_to_bytes(dumps(payload)))
            os.replace(temporary, os.path.join(self.data_folder_out, name))
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise ChannelError(f"Cannot add a message to {self.data_folder_out!r}") from exc

    def _get(self, queue: str) -> dict[str, Any]:  # type: ignore[override]
        try:
            return super()._get(queue)
        except ValueError:  # kombu already removed the file it could not decode
            logger.error("dropped an undecodable message file from queue %r; the sweeper resends its job", queue)
            raise Empty() from None


class Transport(filesystem.Transport):
    Channel = Channel
