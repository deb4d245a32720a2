from __future__ import annotations

from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser


class SafeJSONParser(JSONParser):
    """JSON whose nesting is too deep for the decoder is a bad request, not a crash.

    Python's json module recurses per nesting level, so a 2 KB body of '[' raises
    RecursionError, which DRF would let through as a 500.
    """

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the document is nested too deeply.") from None


class StreamJSONParser(BaseParser):
    """SafeJSONParser's JSON, read from the request's stream: DRF hands a JSONParser
    `request.body`, which Django refuses beyond DATA_UPLOAD_MAX_MEMORY_SIZE (the general
    API_MAX_BODY_BYTES). For the endpoints that take notebooks, whose larger limit
    ApiBodySizeLimitMiddleware enforces from Content-Length before anything is read."""

    media_type = "application/json"

    def parse(
        self, stream: IO[Any], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        return SafeJSONParser().parse(stream, media_type, parser_context)
