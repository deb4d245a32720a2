"""Code submissions: submit (202, graded asynchronously), read one, list an exercise's."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, UserRateThrottle
from rest_framework.views import APIView

from config.pagination import paginated_response, paginated_schema
from grader.grading import submission_create
from grader.models import Submission, SubmissionStatus
from grader.selectors import submission_get_visible, submission_list_for_exercise, submission_result
from questions.models import Exercise
from questions.selectors import exercise_get_visible


class SubmissionThrottle(UserRateThrottle):
    """Per student: each submission costs a sandbox run, so a loop of them is refused."""

    scope = "submissions"


class CheckResultSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    passed = serializers.BooleanField()
    score = serializers.DecimalField(max_digits=8, decimal_places=2)
    max_score = serializers.DecimalField(max_digits=8, decimal_places=2)
    message = serializers.CharField()


@extend_schema_serializer(component_name="CodeSubmission")
class CodeSubmissionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    exercise = serializers.SlugField()
    user = serializers.CharField()
    status = serializers.ChoiceField(
        choices=["queued", "running", "graded", "error"],
        help_text="graded covers every verdict on the code; error is a grader failure that does not count.",
    )
    score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    max_score = serializers.DecimalField(max_digits=8, decimal_places=2)
    summary = serializers.CharField(help_text="One line for the whole run, e.g. 'SyntaxError on line 3: …'.")
    checks = CheckResultSerializer(many=True, help_text="Empty until graded.")
    output = serializers.CharField(help_text="What the code printed (cut when long).")
    created = serializers.DateTimeField()
    graded_at = serializers.DateTimeField(allow_null=True)


ERROR_SUMMARY = "The grader failed to run this submission; it does not count against you. Please submit again."


def _check_data(check: dict[str, Any]) -> dict[str, Any]:
    return {**check, "score": Decimal(check["score"]), "max_score": Decimal(check["max_score"])}


def submission_data(*, submission: Submission) -> dict[str, Any]:
    """The API's view of a submission, read from it, its result, exercise, user and key."""
    result = submission_result(submission=submission) if submission.status == SubmissionStatus.GRADED else None
    max_score = submission.key.max_score  # the validated key's total: every check's points
    summary = {"queued": "Waiting for a grader.", "running": "Running your code.", "error": ERROR_SUMMARY}
    return {
        "id": submission.pk,
        "exercise": submission.exercise.slug,
        "user": submission.user.get_username(),
        "status": submission.status,
        "score": result.score if result else None,
        "max_score": result.max_score if result else max_score,
        "summary": result.summary if result else summary.get(submission.status, ""),
        "checks": [_check_data(check) for check in result.checks] if result else [],
        "output": result.output if result else "",
        "created": submission.created_at,
        "graded_at": submission.graded_at,
    }


def _visible_exercise(*, slug: str, request: Request) -> Exercise:
    try:
        return exercise_get_visible(slug=slug, user=request.user)
    except Exercise.DoesNotExist:
        raise NotFound(f"There is no exercise '{slug}'.") from None


class SourceCodeField(serializers.CharField):
    """Text only: DRF's CharField would turn 42 or true into "42" or "True"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class ExerciseSubmissionsApi(APIView):
    """POST submits code for grading (202); GET lists submissions (instructors: everyone's)."""

    @extend_schema_serializer(component_name="CodeSubmissionInput")
    class InputSerializer(serializers.Serializer[Any]):
        code = SourceCodeField(
            trim_whitespace=False, help_text="Python source: UTF-8, no NUL bytes, at most 64 KiB by default."
        )

    def get_throttles(self) -> list[BaseThrottle]:
        return [SubmissionThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=InputSerializer, responses={202: CodeSubmissionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        exercise = _visible_exercise(slug=slug, request=request)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        submission = submission_create(user=request.user, exercise=exercise, code=serializer.validated_data["code"])
        return Response(submission_data(submission=submission), status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="exercises_submissions_list",
        responses={200: paginated_schema(name="PaginatedCodeSubmissionList", item=CodeSubmissionSerializer)},
    )
    def get(self, request: Request, slug: str) -> Response:
        exercise = _visible_exercise(slug=slug, request=request)
        return paginated_response(
            request=request,
            view=self,
            queryset=submission_list_for_exercise(exercise=exercise, user=request.user),
            serializer=CodeSubmissionSerializer,
            to_data=lambda submission: submission_data(submission=submission),
        )


class SubmissionDetailApi(APIView):
    @extend_schema(responses={200: CodeSubmissionSerializer})
    def get(self, request: Request, submission_id: int) -> Response:
        try:
            submission = submission_get_visible(submission_id=submission_id, user=request.user)
        except Submission.DoesNotExist:
            raise NotFound(f"There is no submission {submission_id}.") from None
        return Response(submission_data(submission=submission))
