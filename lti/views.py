"""LTI endpoints the platform calls, and the pages instructors reach from the LMS.

Plain Django views (LMS platforms speak OIDC and HTML forms, not this project's REST
API). Every refusal is an HTML page with a message an instructor or LMS admin can act
on, and a 4xx status; none opens a session."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import cache_control
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import ServiceError
from lti.deep_linking import DeepLinkRequest, deep_link_items, deep_link_response_jwt
from lti.framing import frameable
from lti.keys import tool_jwks
from lti.launch import DEEP_LINKING_REQUEST, Launch, LaunchRefused, launch_validate, login_redirect
from lti.models import Course, CourseRole, Platform, ResourceLink
from lti.roster import RosterUnavailable, course_roster_sync
from lti.selectors import course_links, link_gradebook, resource_link_get, user_teaches_course
from lti.services import (
    course_services_record,
    launch_identity_ensure,
    resource_link_point,
    resource_link_record,
    resource_ref_parse,
)
from lti.session import LtiContext, lti_session_context, lti_session_deep_link_answered, lti_session_start
from lti.validation import plain_http_refused, web_origin
from questions.selectors import exercise_list_visible, quiz_list_visible

logger = logging.getLogger(__name__)
DL_SETTINGS_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
MAX_RETURN_URL_CHARS = 2000


@require_GET
@cache_control(public=True, max_age=300)
def jwks(request: HttpRequest) -> JsonResponse:
    """The tool's public keys. Cached briefly: a rotation adds a key platforms then fetch
    on seeing its unknown kid, and the retired key stays listed for days."""
    return JsonResponse(tool_jwks(now=timezone.now()))


def _refused(
    request: HttpRequest, *, message: str, status: int, title: str = "This launch was refused"
) -> HttpResponse:
    return render(request, "lti/refused.html", {"title": title, "message": message}, status=status)


@csrf_exempt  # the platform starts the login, by GET or by a cross-site form POST
@require_http_methods(["GET", "POST"])
@frameable
def login(request: HttpRequest) -> HttpResponse:
    try:
        return login_redirect(request=request)
    except LaunchRefused as refused:
        return _refused(request, message=refused.message, status=refused.status, title="This login was refused")


@csrf_exempt  # a cross-site form POST from the platform, authenticated by its signed id_token
@require_POST
@frameable
def launch(request: HttpRequest) -> HttpResponse:
    try:
        validated = launch_validate(request=request)
    except LaunchRefused as refused:
        return _refused(request, message=refused.message, status=refused.status)
    if validated.message_type == DEEP_LINKING_REQUEST:
        return _start_deep_linking(request, launch=validated)
    user, course, membership = launch_identity_ensure(launch=validated)
    course_services_record(course=course, claims=validated.claims)
    link = resource_link_record(launch=validated, course=course)
    context = LtiContext(
        platform_id=validated.platform.pk,
        course_id=course.pk,
        role=membership.role,
        resource_link_id=link.pk,
        deployment_id=validated.deployment_id,
    )
    lti_session_start(request=request, user=user, context=context)
    if membership.role == CourseRole.INSTRUCTOR:
        return redirect("lti-link", link_id=link.pk)
    return _open_link(request, link=link)


def _open_link(request: HttpRequest, *, link: ResourceLink) -> HttpResponse:
    if link.quiz is not None:
        return redirect("pages-quiz", slug=link.quiz.slug)
    if link.exercise is not None:
        return redirect("pages-exercise", slug=link.exercise.slug)
    return render(
        request,
        "lti/not_ready.html",
        {"title": link.title or "This activity"},
        status=409,
    )


def _start_deep_linking(request: HttpRequest, *, launch: Launch) -> HttpResponse:
    settings_claim = launch.claims.get(DL_SETTINGS_CLAIM)
    if not isinstance(settings_claim, dict):
        settings_claim = {}
    return_url = settings_claim.get("deep_link_return_url")
    if not isinstance(return_url, str) or not return_url:
        return _refused(request, message="The deep-linking request names no return URL.", status=400)
    # The reply is a form posted to this address: nothing but a web address may be one.
    if len(return_url) > MAX_RETURN_URL_CHARS or web_origin(return_url) is None:
        return _refused(request, message="The deep-linking request's return URL is not a web address.", status=400)
    if plain_http_refused(return_url):
        return _refused(request, message="The deep-linking request's return URL is not https.", status=400)
    if launch.role != CourseRole.INSTRUCTOR:
        return _refused(request, message="Only instructors of the course choose content.", status=403)
    user, course, membership = launch_identity_ensure(launch=launch)
    course_services_record(course=course, claims=launch.claims)
    data = settings_claim.get("data")
    context = LtiContext(
        platform_id=launch.platform.pk,
        course_id=course.pk,
        role=membership.role,
        deployment_id=launch.deployment_id,
        deep_link_return_url=return_url,
        deep_link_data=data[:2000] if isinstance(data, str) else "",
        # Optional in the spec: a platform that does not say it takes several gets one.
        deep_link_accept_multiple=settings_claim.get("accept_multiple") is True,
    )
    lti_session_start(request=request, user=user, context=context)
    return redirect("lti-deep-link")


def _catalogue() -> dict[str, object]:
    # The catalogue as students would see it: published content only, whatever the role.
    anonymous = AnonymousUser()
    return {"quizzes": quiz_list_visible(user=anonymous), "exercises": exercise_list_visible(user=anonymous)}


@require_http_methods(["GET", "POST"])
@frameable
def deep_link(request: HttpRequest) -> HttpResponse:
    """The instructor's picker for a deep-linking request, and the signed reply."""
    context = lti_session_context(request=request)
    if context is None or not context.deep_link_return_url or not request.user.is_authenticated:
        return _refused(
            request,
            message="Choosing content starts from the LMS: add this tool as content in a course there.",
            status=403,
            title="No content request",
        )
    if not user_teaches_course(user=request.user, course_id=context.course_id):
        return _refused(request, message="Only instructors of the course choose content.", status=403)
    page = {"accept_multiple": context.deep_link_accept_multiple, **_catalogue()}
    if request.method == "GET":
        return render(request, "lti/deep_link.html", page)
    try:
        items = deep_link_items(
            refs=request.POST.getlist("resource"), accept_multiple=context.deep_link_accept_multiple
        )
    except ServiceError as error:
        return render(request, "lti/deep_link.html", {**page, "error": error.message}, status=400)
    platform = Platform.objects.get(pk=context.platform_id)
    reply = DeepLinkRequest(
        platform=platform,
        deployment_id=context.deployment_id,
        return_url=context.deep_link_return_url,
        data=context.deep_link_data,
        accept_multiple=context.deep_link_accept_multiple,
    )
    token = deep_link_response_jwt(request=reply, items=items, now=timezone.now())
    lti_session_deep_link_answered(request=request)
    return render(request, "lti/deep_link_return.html", {"return_url": reply.return_url, "jwt": token})


@require_http_methods(["GET", "POST"])
@frameable
def link_detail(request: HttpRequest, link_id: int) -> HttpResponseBase:
    """An instructor's view of a link: what it shows (and choosing it), and its gradebook."""
    try:
        link = resource_link_get(link_id=link_id)
    except ResourceLink.DoesNotExist:
        return _refused(request, message="There is no such link.", status=404, title="Not found")
    if not user_teaches_course(user=request.user, course_id=link.course_id):
        return _refused(
            request, message="This page is for the course's instructors.", status=403, title="Instructors only"
        )
    error = ""
    status = 200
    if request.method == "POST":
        ref = resource_ref_parse(value=request.POST.get("resource", ""))
        try:
            if ref is None:
                raise ServiceError.invalid({"resource": ["Choose a quiz or an exercise."]})
            resource_link_point(link=link, ref=ref)
            return redirect("lti-link", link_id=link.pk)
        except ServiceError as refused:
            error, status = refused.message, 400
    context = {
        "link": link,
        "course": link.course,
        "content": link.quiz or link.exercise,
        "rows": link_gradebook(link=link),
        "other_links": course_links(course_id=link.course_id).exclude(pk=link.pk),
        "error": error,
        "launched_here": (ctx := lti_session_context(request=request)) is not None and ctx.resource_link_id == link.pk,
        "open_url": _content_url(link),
        **_catalogue(),
    }
    return render(request, "lti/link.html", context, status=status)


def _content_url(link: ResourceLink) -> str:
    if link.quiz is not None:
        return reverse("pages-quiz", kwargs={"slug": link.quiz.slug})
    if link.exercise is not None:
        return reverse("pages-exercise", kwargs={"slug": link.exercise.slug})
    return ""


@require_POST
@frameable
def roster_sync(request: HttpRequest, course_id: int) -> HttpResponse:
    """An instructor asks for the course's roster from the LMS (NRPS)."""
    if not user_teaches_course(user=request.user, course_id=course_id):
        return _refused(
            request, message="This page is for the course's instructors.", status=403, title="Instructors only"
        )
    course = Course.objects.select_related("platform").get(pk=course_id)
    try:
        report = course_roster_sync(course=course, now=timezone.now(), synced_by_id=request.user.pk)
    except RosterUnavailable as exc:
        return _refused(request, message=str(exc), status=503, title="The roster could not be synced")
    messages.success(
        request, f"Roster synced: {report.members} members ({report.added} new, {report.left} marked as left)."
    )
    back = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(back)
    return redirect("pages-home")
