""" "Check my work": run an exercise's visible checks on code or a notebook (202), then poll
the run. Nothing here is a grade (see grader.check_runs)."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import UserRateThrottle
from rest_framework.views import APIView

from grader.check_runs import check_run_create, check_run_get_own
from grader.models import CheckRun, CheckRunStatus
from grader.submission_apis import SOURCE_PARSERS, SOURCE_REQUEST, source_from_request
from questions.models import Exercise
from questions.selectors import exercise_get_visible


class CheckRunThrottle(UserRateThrottle):
    """Per student, apart from submissions: each check run costs a sandbox run too."""

    scope = "checks"


@extend_schema_serializer(component_name="CheckRunCreated")
class CheckRunCreatedSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["queued"])
    url = serializers.CharField(help_text="Where to poll the run: GET it until its status is done (or error).")


class VisibleCheckResultSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    message = serializers.CharField()


@extend_schema_serializer(component_name="CheckRun")
class CheckRunSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    exercise = serializers.SlugField()
    status = serializers.ChoiceField(
        choices=CheckRunStatus.values, help_text="error: the grader failed; it says nothing about the code."
    )
    graded = serializers.BooleanField(help_text="Always false: a check run is never a grade.")
    summary = serializers.CharField()
    checks = VisibleCheckResultSerializer(many=True, help_text="The visible checks only; empty until done.")
    output = serializers.CharField(help_text="What the code printed (cut when long).")
    created = serializers.DateTimeField()
    finished = serializers.DateTimeField(allow_null=True)


_PENDING_SUMMARY = {
    CheckRunStatus.QUEUED: "Waiting for a grader.",
    CheckRunStatus.RUNNING: "Running the visible checks.",
}


def check_run_data(*, run: CheckRun) -> dict[str, Any]:
    result = run.result or {}
    summary = result.get("summary") or result.get("error") or _PENDING_SUMMARY.get(CheckRunStatus(run.status), "")
    return {
        "id": run.pk,
        "exercise": run.exercise.slug,
        "status": run.status,
        "graded": False,
        "summary": summary,
        "checks": result.get("checks", []),
        "output": result.get("output", ""),
        "created": run.created_at,
        "finished": run.finished_at,
    }


def check_run_url(*, run: CheckRun) -> str:
    return reverse("check-run-detail", kwargs={"check_run_id": run.pk})


class ExerciseChecksApi(APIView):
    """POST runs the exercise's visible checks on code or a notebook (202), for feedback:
    no grade is recorded, and hidden checks do not run."""

    parser_classes = SOURCE_PARSERS
    throttle_classes = [CheckRunThrottle]

    @extend_schema(request=SOURCE_REQUEST, responses={202: CheckRunCreatedSerializer})
    def post(self, request: Request, slug: str) -> Response:
        try:
            exercise = exercise_get_visible(slug=slug, user=request.user)
        except Exercise.DoesNotExist:
            raise NotFound(f"There is no exercise '{slug}'.") from None
        code, notebook = source_from_request(request=request)
        run = check_run_create(user=request.user, exercise=exercise, code=code, notebook=notebook)
        body = {"id": run.pk, "status": run.status, "url": check_run_url(run=run)}
        return Response(body, status=status.HTTP_202_ACCEPTED)


class CheckRunDetailApi(APIView):
    """A check run, for the student who asked for it (404 for anyone else)."""

    @extend_schema(responses={200: CheckRunSerializer})
    def get(self, request: Request, check_run_id: int) -> Response:
        try:
            run = check_run_get_own(check_run_id=check_run_id, user=request.user)
        except CheckRun.DoesNotExist:
            raise NotFound(f"There is no check run {check_run_id}.") from None
        return Response(check_run_data(run=run))
