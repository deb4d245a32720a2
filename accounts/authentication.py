from __future__ import annotations

import re

from django.contrib.auth.models import AbstractBaseUser
from rest_framework.authentication import TokenAuthentication
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import AuthenticationFailed

TOKEN_RE = re.compile(r"[0-9a-f]{40}")


class StrictTokenAuthentication(TokenAuthentication):
    """Token auth that looks up only well-formed keys.

    A malformed key (a NUL byte, say) would otherwise reach PostgreSQL and fail there
    with a 500 instead of a 401.
    """

    def authenticate_credentials(self, key: str) -> tuple[AbstractBaseUser, Token]:
        if not TOKEN_RE.fullmatch(key):
            raise AuthenticationFailed("Invalid token.")
        return super().authenticate_credentials(key)
