"""The Canvas developer-key configuration ("LTI 1.3 key", Paste JSON) for this tool.

Canvas cannot take every setting through its form, so it accepts one JSON document with
the tool's URLs, scopes and placements. Deep linking is offered where instructors add
content (link and assignment selection); the course navigation link opens the tool as an
ordinary resource link. The key is given by URL (`public_jwk_url`), so a rotation needs
no change in Canvas.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lti.tool_urls import ToolEndpoints

CANVAS_PLATFORM = "canvas.instructure.com"
RESOURCE_LINK_REQUEST = "LtiResourceLinkRequest"
DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"
PLACEMENTS = (
    ("link_selection", DEEP_LINKING_REQUEST),
    ("assignment_selection", DEEP_LINKING_REQUEST),
    ("course_navigation", RESOURCE_LINK_REQUEST),
)


def canvas_developer_key(
    *, endpoints: ToolEndpoints, title: str, description: str, scopes: Sequence[str]
) -> dict[str, Any]:
    """The JSON an admin pastes into Canvas (Developer Keys → + LTI Key → Paste JSON)."""
    launch = endpoints.launch
    placements = [
        {
            "placement": placement,
            "message_type": message_type,
            "text": title,
            "target_link_uri": launch,
            "enabled": True,
        }
        for placement, message_type in PLACEMENTS
    ]
    return {
        "title": title,
        "description": description,
        "oidc_initiation_url": endpoints.login,
        "target_link_uri": launch,
        "public_jwk_url": endpoints.jwks,
        "scopes": list(scopes),
        "extensions": [
            {
                "platform": CANVAS_PLATFORM,
                "domain": endpoints.domain,
                "tool_id": title.lower().replace(" ", "-"),
                "privacy_level": "public",
                "settings": {"text": title, "placements": placements},
            }
        ],
        "custom_fields": {},
    }
