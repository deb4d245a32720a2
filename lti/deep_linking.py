"""Deep linking: an instructor picks quizzes or exercises from the catalogue, and the
tool answers the platform with signed `ltiResourceLink` items, each carrying the
`resource` custom parameter its launches will bring back and a line item (label and
score maximum) from which the LMS creates the gradebook column."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.urls import reverse
from jwcrypto import jwk, jwt

from config.errors import ServiceError
from lti.keys import ALGORITHM, tool_key_current
from lti.models import Platform
from lti.services import ResourceRef, resource_ref_parse, resource_target
from questions.models import Exercise, Quiz
from questions.selectors import exercise_serving_key_state, quiz_max_score, quiz_questions_with_choices

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
RESPONSE_LIFETIME_SECONDS = 600


@dataclass(frozen=True, kw_only=True)
class DeepLinkRequest:
    """What the deep-linking launch asked for, kept in the session until the reply."""

    platform: Platform
    deployment_id: str
    return_url: str
    data: str
    accept_multiple: bool


def content_max_score(*, content: Quiz | Exercise) -> Decimal:
    if isinstance(content, Quiz):
        return quiz_max_score(quiz_questions=quiz_questions_with_choices(quiz=content))
    key = exercise_serving_key_state(exercise=content)  # what students are graded out of
    return key.max_score if key is not None else Decimal(0)


def content_item(*, ref: ResourceRef, content: Quiz | Exercise) -> dict[str, Any]:
    maximum = content_max_score(content=content)
    return {
        "type": "ltiResourceLink",
        "title": content.title,
        "url": settings.LTI_TOOL_BASE_URL + reverse("lti-launch"),
        "custom": {"resource": str(ref)},
        "lineItem": {
            "label": content.title,
            "scoreMaximum": float(maximum) if maximum > 0 else 1.0,
            "resourceId": str(ref),
        },
    }


def deep_link_items(*, refs: list[str], accept_multiple: bool) -> list[dict[str, Any]]:
    """The content items for the chosen references, or ServiceError naming the problem."""
    if not refs:
        raise ServiceError.invalid({"resource": ["Choose at least one quiz or exercise."]})
    if len(refs) > 1 and not accept_multiple:
        raise ServiceError.invalid({"resource": ["This LMS accepts one item here: choose only one."]})
    items = []
    for value in dict.fromkeys(refs):  # keep order, drop repeats
        ref = resource_ref_parse(value=value)
        content = resource_target(ref=ref) if ref else None
        if ref is None or content is None:
            raise ServiceError.invalid({"resource": [f"{value!r} is not published content of this tool."]})
        items.append(content_item(ref=ref, content=content))
    return items


def deep_link_response_jwt(*, request: DeepLinkRequest, items: list[dict[str, Any]], now: datetime) -> str:
    """The LtiDeepLinkingResponse, signed with the tool's current key."""
    key = tool_key_current(now=now)
    signer = jwk.JWK.from_pem(key.private_key_pem.encode())
    issued = int(now.timestamp())
    claims: dict[str, Any] = {
        "iss": request.platform.client_id,
        "aud": request.platform.issuer,
        "azp": request.platform.client_id,
        "iat": issued,
        "exp": issued + RESPONSE_LIFETIME_SECONDS,
        "nonce": uuid.uuid4().hex,
        CLAIM + "message_type": "LtiDeepLinkingResponse",
        CLAIM + "version": "1.3.0",
        CLAIM + "deployment_id": request.deployment_id,
        DL_CLAIM + "content_items": items,
    }
    if request.data:
        claims[DL_CLAIM + "data"] = request.data
    token = jwt.JWT(header={"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"}, claims=claims)
    token.make_signed_token(signer)
    return str(token.serialize())
