"""Notebooks to download: an exercise's starter notebook, and a student's own notebook
submission, as .ipynb attachments (the pages serve the same files; see pages.views)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from grader.models import Submission
from grader.notebooks import notebook_file_bytes, notebook_starter
from grader.selectors import submission_get_visible
from questions.apis import exercise_detail_data
from questions.models import Exercise
from questions.selectors import exercise_get_visible

NOTEBOOK_MEDIA_TYPE = "application/x-ipynb+json"


class NotebookRenderer(BaseRenderer):
    """Lets a client ask for the notebook by its media type; errors still come as JSON."""

    media_type = NOTEBOOK_MEDIA_TYPE
    format = "ipynb"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        return json.dumps(data).encode("utf-8")


def notebook_attachment(*, notebook: Mapping[str, Any], filename: str) -> HttpResponse:
    response = HttpResponse(notebook_file_bytes(notebook=notebook), content_type=NOTEBOOK_MEDIA_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def exercise_starter_attachment(*, exercise: Exercise, request: HttpRequest) -> HttpResponse:
    """The exercise's starter notebook: its prompt as students see it, the starter code,
    and how to submit (to this server's exercise page and API)."""
    data = exercise_detail_data(exercise=exercise)
    notebook = notebook_starter(
        slug=exercise.slug,
        prompt=data["prompt"],
        starter_code=data["starter_code"],
        functions=[function["signature"] for function in data["functions"]],
        exercise_url=request.build_absolute_uri(reverse("pages-exercise", kwargs={"slug": exercise.slug})),
        api_url=request.build_absolute_uri(reverse("exercise-submissions", kwargs={"slug": exercise.slug})),
    )
    return notebook_attachment(notebook=notebook, filename=f"{exercise.slug}.ipynb")


def submission_notebook_filename(*, submission: Submission) -> str:
    return f"{submission.exercise.slug}-submission-{submission.pk}.ipynb"


_NOTEBOOK_RESPONSE = {
    (200, NOTEBOOK_MEDIA_TYPE): OpenApiResponse(OpenApiTypes.OBJECT, description="The .ipynb file (an attachment).")
}


class ExerciseNotebookApi(APIView):
    """The exercise's starter notebook, for whoever may see the exercise."""

    renderer_classes = [JSONRenderer, NotebookRenderer]

    @extend_schema(operation_id="exercises_notebook_retrieve", responses=_NOTEBOOK_RESPONSE)
    def get(self, request: Request, slug: str) -> HttpResponse:
        try:
            exercise = exercise_get_visible(slug=slug, user=request.user)
        except Exercise.DoesNotExist:
            raise NotFound(f"There is no exercise '{slug}'.") from None
        return exercise_starter_attachment(exercise=exercise, request=request)


class SubmissionNotebookApi(APIView):
    """A notebook submission's notebook as it was sent, for its owner and instructors."""

    renderer_classes = [JSONRenderer, NotebookRenderer]

    @extend_schema(operation_id="submissions_notebook_retrieve", responses=_NOTEBOOK_RESPONSE)
    def get(self, request: Request, submission_id: int) -> HttpResponse:
        try:
            submission = submission_get_visible(submission_id=submission_id, user=request.user)
        except Submission.DoesNotExist:
            raise NotFound(f"There is no submission {submission_id}.") from None
        if submission.notebook is None:
            raise NotFound(f"Submission {submission_id} was sent as code, not as a notebook.")
        filename = submission_notebook_filename(submission=submission)
        return notebook_attachment(notebook=submission.notebook, filename=filename)
