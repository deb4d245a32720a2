"""The URLs an LMS admin gives the platform, absolute, from LTI_TOOL_BASE_URL."""

from __future__ import annotations

from django.conf import settings
from django.urls import reverse


def tool_urls() -> dict[str, str]:
    """What the platform needs, by the names LMS registration forms use. Only endpoints
    that exist are listed: the launch endpoints are not built yet (see the README)."""
    base = settings.LTI_TOOL_BASE_URL
    return {"Public keyset URL": base + reverse("lti-jwks")}
