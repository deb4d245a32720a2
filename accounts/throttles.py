from __future__ import annotations

import hashlib

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView


class LoginUsernameThrottle(SimpleRateThrottle):
    """Counts token requests per username, whichever address they come from, so that
    guessing one account's password from many addresses is slowed down too."""

    scope = "login_username"

    def get_cache_key(self, request: Request, view: APIView) -> str | None:
        username = request.data.get("username") if isinstance(request.data, dict) else None
        if not isinstance(username, str) or not username:
            return None
        return self.cache_key_for(username)

    def cache_key_for(self, username: str) -> str:
        # Hashed: usernames are arbitrary text, cache keys must be short and plain.
        ident = hashlib.sha256(username.strip().lower().encode()).hexdigest()
        return self.cache_format % {"scope": self.scope, "ident": ident}
