"""Read-only quiz endpoints. Nothing here reveals correctness: no correct flags,
explanations, feedback or numeric answers ever leave through these serializers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import paginated_response, paginated_schema
from questions.exercises import exercise_to_spec, grading_spec, grading_spec_environment, signature_name
from questions.markdown import render_markdown
from questions.models import Choice, Exercise, Question, Quiz
from questions.selectors import (
    exercise_get_visible,
    exercise_list_visible,
    exercise_serving_spec,
    quiz_get_visible,
    quiz_list_visible,
    quiz_max_score,
    quiz_questions_with_choices,
    quiz_shows_questions,
)
from workers.environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS, environment_get, environment_packages


class PublicChoiceSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    text = serializers.CharField()


class PublicQuestionSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    type = serializers.CharField()
    title = serializers.CharField()
    prompt = serializers.CharField(help_text="Markdown.")
    prompt_html = serializers.CharField(help_text="The prompt rendered to sanitized HTML.")
    points = serializers.DecimalField(max_digits=6, decimal_places=2)
    choices = PublicChoiceSerializer(many=True)


def public_question_data(*, question: Question, points: Decimal, choices: list[Choice]) -> dict[str, Any]:
    return {
        "id": question.id,
        "type": question.type,
        "title": question.title,
        "prompt": question.prompt,
        "prompt_html": render_markdown(text=question.prompt),
        "points": points,
        "choices": [{"id": choice.id, "text": choice.text} for choice in choices],
    }


class QuizSummarySerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField()
    title = serializers.CharField()
    description = serializers.CharField()
    is_published = serializers.BooleanField()
    opens_at = serializers.DateTimeField(allow_null=True)
    closes_at = serializers.DateTimeField(allow_null=True)
    time_limit_minutes = serializers.IntegerField(allow_null=True)
    max_attempts = serializers.IntegerField(allow_null=True)
    reveal = serializers.CharField()


class QuizListApi(APIView):
    """Quizzes the caller can see: published ones, or all of them for instructors."""

    @extend_schema(
        operation_id="quizzes_list",
        responses={200: paginated_schema(name="PaginatedQuizSummaryList", item=QuizSummarySerializer)},
    )
    def get(self, request: Request) -> Response:
        return paginated_response(
            request=request, view=self, queryset=quiz_list_visible(user=request.user), serializer=QuizSummarySerializer
        )


class QuizDetailApi(APIView):
    @extend_schema_serializer(component_name="QuizDetail")
    class OutputSerializer(QuizSummarySerializer):
        description_html = serializers.CharField()
        question_count = serializers.IntegerField()
        max_score = serializers.DecimalField(max_digits=8, decimal_places=2)
        questions = PublicQuestionSerializer(many=True, help_text="Empty until the quiz opens.")

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request: Request, slug: str) -> Response:
        try:
            quiz = quiz_get_visible(slug=slug, user=request.user)
        except Quiz.DoesNotExist:
            raise NotFound(f"There is no quiz '{slug}'.") from None
        quiz_questions = quiz_questions_with_choices(quiz=quiz)
        shown = quiz_questions if quiz_shows_questions(quiz=quiz, user=request.user, now=timezone.now()) else []
        data = {
            **QuizSummarySerializer(quiz).data,
            "description_html": render_markdown(text=quiz.description),
            "question_count": len(quiz_questions),
            "max_score": quiz_max_score(quiz_questions=quiz_questions),
            "questions": [
                public_question_data(
                    question=qq.question, points=qq.effective_points, choices=list(qq.question.choices.all())
                )
                for qq in shown
            ],
        }
        # `data` already has OutputSerializer's shape; a second serializer pass over a dozen
        # nested questions would cost more than the rest of the request.
        return Response(data)


# --- Code exercises --------------------------------------------------------------------
# What students may know of an exercise: the statement, the starter code, the functions to
# write and the visible checks. Never a hidden check's existence details, a setup, an
# expected value or the reference solution.


class ExerciseFunctionSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    signature = serializers.CharField()


class VisibleCheckSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    points = serializers.DecimalField(max_digits=6, decimal_places=2)
    description = serializers.CharField()
    requires = serializers.ListField(
        child=serializers.CharField(), help_text="Checks that must pass before this one scores."
    )


class ExerciseSummarySerializer(serializers.Serializer[Any]):
    slug = serializers.SlugField()
    title = serializers.CharField()
    max_score = serializers.DecimalField(max_digits=8, decimal_places=2)


class EnvironmentPackageSerializer(serializers.Serializer[Any]):
    name = serializers.CharField()
    version = serializers.CharField()


@extend_schema_serializer(component_name="Environment")
class EnvironmentSerializer(serializers.Serializer[Any]):
    name = serializers.CharField(help_text="What an exercise names: numpy, scientific or torch.")
    title = serializers.CharField()
    description = serializers.CharField()
    packages = EnvironmentPackageSerializer(many=True, help_text="Every package `import` finds, pinned.")
    preloaded = serializers.ListField(
        child=serializers.CharField(), help_text="Modules imported before your code runs: importing them costs nothing."
    )


class EnvironmentListSerializer(serializers.Serializer[Any]):
    default = serializers.CharField()
    environments = EnvironmentSerializer(many=True)


def environment_data(*, name: str) -> dict[str, Any]:
    environment = environment_get(name)
    return {
        "name": environment.name,
        "title": environment.title,
        "description": environment.description,
        "packages": [{"name": package, "version": version} for package, version in environment_packages(environment)],
        "preloaded": list(environment.preload),
    }


class EnvironmentListApi(APIView):
    """The environments student code can run in, each with every package and version."""

    @extend_schema(operation_id="environments_list", responses={200: EnvironmentListSerializer})
    def get(self, request: Request) -> Response:
        return Response(
            {"default": DEFAULT_ENVIRONMENT, "environments": [environment_data(name=name) for name in ENVIRONMENTS]}
        )


@extend_schema_serializer(component_name="ExerciseDetail")
class ExerciseDetailSerializer(ExerciseSummarySerializer):
    prompt = serializers.CharField(help_text="Markdown.")
    prompt_html = serializers.CharField(help_text="The prompt rendered to sanitized HTML.")
    starter_code = serializers.CharField()
    functions = ExerciseFunctionSerializer(many=True)
    time_limit_seconds = serializers.IntegerField()
    memory_limit_mb = serializers.IntegerField(help_text="Memory your code may use, beyond the environment's own.")
    environment = EnvironmentSerializer(help_text="Where the code runs: what `import` finds.")
    checks = VisibleCheckSerializer(many=True, help_text="The visible checks; hidden ones are counted, not shown.")
    hidden_checks = serializers.IntegerField()
    hidden_points = serializers.DecimalField(max_digits=8, decimal_places=2)


def exercise_summary_data(*, exercise: Exercise) -> dict[str, Any]:
    # What the key students are served grades out of (exercise_list_visible's annotation);
    # the checks as they are now before any key has validated (instructors only).
    points = getattr(exercise, "live_max_score", None)
    if points is None:
        points = sum((check.points for check in exercise.checks.all()), Decimal(0))
    return {"slug": exercise.slug, "title": exercise.title, "max_score": points}


def exercise_detail_data(*, exercise: Exercise) -> dict[str, Any]:
    """The exercise as students are graded on it: the functions, limits and checks of the
    key they are served, which stays the last valid one while an edit validates. The
    prompt and starter code are not graded on, so they are always the current ones."""
    spec = exercise_serving_spec(exercise=exercise)
    if spec is None:  # nothing validated yet: only instructors see the exercise
        spec = grading_spec(spec=exercise_to_spec(exercise=exercise))
    checks = spec["checks"]
    visible = [check for check in checks if not check["hidden"]]
    hidden = [check for check in checks if check["hidden"]]
    signatures = list(spec["functions"])
    return {
        "slug": exercise.slug,
        "title": exercise.title,
        "max_score": sum((Decimal(check["points"]) for check in checks), Decimal(0)),
        "prompt": exercise.prompt,
        "prompt_html": render_markdown(text=exercise.prompt),
        "starter_code": exercise.starter_code,
        "functions": [{"name": signature_name(s) or "", "signature": s} for s in signatures],
        "time_limit_seconds": spec["time_limit_seconds"],
        "memory_limit_mb": spec["memory_limit_mb"],
        "environment": environment_data(name=grading_spec_environment(spec=spec)),
        "checks": [
            {
                "name": c["name"],
                "points": Decimal(c["points"]),
                "description": c["description"],
                "requires": list(c.get("requires", [])),
            }
            for c in visible
        ],
        "hidden_checks": len(hidden),
        "hidden_points": sum((Decimal(c["points"]) for c in hidden), Decimal(0)),
    }


class ExerciseListApi(APIView):
    """Exercises the caller can see: published and validated ones, or all for instructors."""

    @extend_schema(
        operation_id="exercises_list",
        responses={200: paginated_schema(name="PaginatedExerciseSummaryList", item=ExerciseSummarySerializer)},
    )
    def get(self, request: Request) -> Response:
        exercises = exercise_list_visible(user=request.user).prefetch_related("checks")
        return paginated_response(
            request=request,
            view=self,
            queryset=exercises,
            serializer=ExerciseSummarySerializer,
            to_data=lambda exercise: exercise_summary_data(exercise=exercise),
        )


class ExerciseDetailApi(APIView):
    @extend_schema(responses={200: ExerciseDetailSerializer})
    def get(self, request: Request, slug: str) -> Response:
        try:
            exercise = exercise_get_visible(slug=slug, user=request.user)
        except Exercise.DoesNotExist:
            raise NotFound(f"There is no exercise '{slug}'.") from None
        return Response(exercise_detail_data(exercise=exercise))
