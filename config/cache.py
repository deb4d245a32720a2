"""The Redis cache, best effort: an outage of Redis must not fail requests.

The cache holds only what can be lost (throttle counters, nothing else today). When
Redis refuses, times out or drops the connection, reads miss and writes are skipped, with
a warning; throttling is then off until Redis is back, rather than every request failing
with a 500 while submissions are still being accepted into the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _best_effort(operation: str, default: T, call: Callable[[], T]) -> T:
    try:
        return call()
    except RedisError as exc:
        logger.warning("cache %s skipped: Redis is unavailable (%s)", operation, exc)
        return default


class ResilientRedisCache(RedisCache):
    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return _best_effort("get", default, lambda: super(ResilientRedisCache, self).get(key, default, version))

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return _best_effort("get_many", {}, lambda: super(ResilientRedisCache, self).get_many(keys, version))

    def set(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> None:
        if timeout is None:
            timeout = self.default_timeout
        _best_effort("set", None, lambda: super(ResilientRedisCache, self).set(key, value, timeout, version))

    def add(self, key: Any, value: Any, timeout: Any = None, version: int | None = None) -> bool:
        if timeout is None:
            timeout = self.default_timeout
        return _best_effort("add", False, lambda: super(ResilientRedisCache, self).add(key, value, timeout, version))

    def delete(self, key: Any, version: int | None = None) -> bool:
        return _best_effort("delete", False, lambda: super(ResilientRedisCache, self).delete(key, version))

    def clear(self) -> None:
        _best_effort("clear", None, lambda: super(ResilientRedisCache, self).clear())
