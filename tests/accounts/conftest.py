from __future__ import annotations

import pytest
from django.core.cache import cache

from accounts.throttles import LoginUsernameThrottle


@pytest.fixture(autouse=True)
def _reset_login_counters() -> None:
    """The per-username login counter lives in the cache, which is Redis in CI and
    outlives a test run: runs back to back would otherwise throttle alice."""
    throttle = LoginUsernameThrottle()
    cache.delete_many([throttle.cache_key_for(name) for name in ("alice", "bob")])
