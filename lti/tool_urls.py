"""What an LMS admin gives the platform about this tool: its URLs (absolute, from
LTI_TOOL_BASE_URL), its name, and the LTI Advantage scopes it asks for.

The same facts feed the admin's tool-setup page, the Canvas developer-key JSON
(lti.canvas), LTI Dynamic Registration (lti.dynamic_registration) and the
`lti_register_platform` command, so an LMS is told one story whichever way it is set up.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.urls import reverse

TOOL_TITLE = "Grader"
TOOL_DESCRIPTION = "Quizzes and automatically graded code exercises; grades go to the LMS gradebook."

AGS_SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
)
NRPS_SCOPES = ("https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",)
TOOL_SCOPES = (*AGS_SCOPES, *NRPS_SCOPES)


@dataclass(frozen=True, kw_only=True)
class ToolEndpoints:
    login: str  # OIDC login initiation
    launch: str  # redirect URI and target link URI, for resource links and deep linking alike
    jwks: str
    dynamic_registration: str

    @property
    def domain(self) -> str:
        """The tool's host (and port, if any), as LMS configurations name it."""
        return urlsplit(self.launch).netloc


def tool_endpoints() -> ToolEndpoints:
    base = settings.LTI_TOOL_BASE_URL
    return ToolEndpoints(
        login=base + reverse("lti-login"),
        launch=base + reverse("lti-launch"),
        jwks=base + reverse("lti-jwks"),
        dynamic_registration=base + reverse("lti-dynamic-registration"),
    )


def tool_urls() -> dict[str, str]:
    """What the platform needs, by the names LMS registration forms use. Deep-linking
    requests come to the launch URL too (their message type tells them apart). The
    dynamic registration URL works only with an invitation's `?invite=…` appended (or
    for a signed-in administrator): see docs/lti-registration.md."""
    endpoints = tool_endpoints()
    return {
        "Login initiation URL": endpoints.login,
        "Redirect / launch URL": endpoints.launch,
        "Deep linking URL": endpoints.launch,
        "Public keyset URL": endpoints.jwks,
        "Dynamic registration URL": endpoints.dynamic_registration,
    }
