"""Code submissions: submit (202, graded asynchronously), read one, list an exercise's.

Code comes as `{"code": "…"}`, a Jupyter notebook as `{"notebook": {…}}` or as a
multipart upload of the .ipynb file (field `file`); see grader.notebooks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.parsers import BaseParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle, UserRateThrottle
from rest_framework.views import APIView

from config.errors import ServiceError
from config.pagination import paginated_response, paginated_schema
from config.parsers import StreamJSONParser
from grader.grading import submission_create
from grader.models import Submission, SubmissionStatus
from grader.notebooks import NotebookProblem, notebook_upload
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
    # (A field named like Field.source: DRF takes declared fields off the class.)
    source = serializers.ChoiceField(  # type: ignore[assignment]
        choices=["code", "notebook"],
        help_text="notebook: sent as a Jupyter notebook (GET /submissions/{id}/notebook/ gives it back).",
    )
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
        "source": "notebook" if submission.cell_starts else "code",  # the notebook itself is not read here
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


@extend_schema_serializer(component_name="CodeSubmissionInput")
class SourceInputSerializer(serializers.Serializer[Any]):
    """Exactly one of the two (the service says so when both or neither come)."""

    code = SourceCodeField(
        required=False,
        trim_whitespace=False,
        help_text="Python source: UTF-8, no NUL bytes, at most 64 KiB by default.",
    )
    notebook = serializers.DictField(
        required=False,
        help_text="A Jupyter notebook (nbformat 4): the .ipynb file's JSON object, at most 2 MiB by default."
        " Its code cells run in order; markdown and outputs are ignored.",
    )


@extend_schema_serializer(component_name="NotebookUploadInput")
class NotebookUploadSerializer(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="The .ipynb file (nbformat 4), at most 2 MiB by default.")


# What the submission and check endpoints read: JSON, or a multipart upload of a notebook;
# bodies up to the notebook limit (see config.middleware.api_body_limit).
SOURCE_PARSERS: list[type[BaseParser]] = [StreamJSONParser, MultiPartParser]
SOURCE_REQUEST = {"application/json": SourceInputSerializer, "multipart/form-data": NotebookUploadSerializer}


def source_from_request(*, request: Request) -> tuple[str | None, dict[str, Any] | None]:
    """(code, notebook) as the request sends them, each None when absent; a 400 for input
    that is not even that. Whether it can be graded is the service's call."""
    if request.content_type.startswith("multipart/form-data"):
        upload = NotebookUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        file = upload.validated_data["file"]
        try:
            limit = settings.SUBMISSION_MAX_NOTEBOOK_BYTES
            notebook = notebook_upload(filename=file.name or "", size=file.size, read=file.read, max_bytes=limit)
        except NotebookProblem as exc:
            raise ServiceError.invalid({"file": [str(exc)]}) from None
        code = request.data.get("code")  # refused with the notebook, by the service
        return (code if isinstance(code, str) else None), notebook
    serializer = SourceInputSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data.get("code"), serializer.validated_data.get("notebook")


class ExerciseSubmissionsApi(APIView):
    """POST submits code or a notebook for grading (202); GET lists submissions
    (instructors: everyone's)."""

    parser_classes = SOURCE_PARSERS

    def get_throttles(self) -> list[BaseThrottle]:
        return [SubmissionThrottle()] if self.request.method == "POST" else []

    @extend_schema(request=SOURCE_REQUEST, responses={202: CodeSubmissionSerializer})
    def post(self, request: Request, slug: str) -> Response:
        exercise = _visible_exercise(slug=slug, request=request)
        code, notebook = source_from_request(request=request)
        submission = submission_create(user=request.user, exercise=exercise, code=code, notebook=notebook)
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
