"""LTI endpoints the platform calls. Plain Django views: LMS platforms speak OIDC and
JWT, not this project's REST API."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from lti.keys import tool_jwks


@require_GET
@cache_control(public=True, max_age=300)
def jwks(request: HttpRequest) -> JsonResponse:
    """The tool's public keys. Cached briefly: a rotation adds a key platforms then fetch
    on seeing its unknown kid, and the retired key stays listed for days."""
    return JsonResponse(tool_jwks(now=timezone.now()))
