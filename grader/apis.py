from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.pagination import paginated_response, paginated_schema
from grader.models import Attempt, AttemptAnswer
from grader.selectors import (
    attempt_answers,
    attempt_get_own,
    attempt_get_visible,
    attempt_list_for_quiz,
    attempt_presented_questions,
    attempt_reveals_answers,
)
from grader.services import SubmittedAnswer, attempt_start, attempt_submit
from questions.apis import PublicQuestionSerializer, public_question_data
from questions.markdown import render_markdown
from questions.models import Question, Quiz
from questions.selectors import quiz_get_visible

MAX_ANSWERS = 500
MAX_CHOICES_PER_ANSWER = 100


class AttemptSummarySerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    quiz = serializers.SlugField(source="quiz.slug")
    user = serializers.CharField(source="user.get_username")
    number = serializers.IntegerField()
    state = serializers.CharField()
    started_at = serializers.DateTimeField()
    deadline_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    max_score = serializers.DecimalField(max_digits=8, decimal_places=2)


class ReadingSerializer(serializers.Serializer[Any]):
    title = serializers.CharField()
    url = serializers.URLField()


class ChoiceFeedbackSerializer(serializers.Serializer[Any]):
    choice = serializers.IntegerField()
    feedback = serializers.CharField()


class ResultSerializer(serializers.Serializer[Any]):
    """Per question. Fields after `value` are null until the reveal policy allows them."""

    question = serializers.IntegerField()
    answered = serializers.BooleanField()
    choices = serializers.ListField(child=serializers.IntegerField(), help_text="The choices the student picked.")
    value = serializers.FloatField(allow_null=True, help_text="The number the student sent.")
    correct = serializers.BooleanField(allow_null=True)
    score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    max_score = serializers.DecimalField(max_digits=8, decimal_places=2, allow_null=True)
    correct_choices = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    correct_value = serializers.FloatField(allow_null=True)
    explanation = serializers.CharField(allow_null=True, help_text="Markdown.")
    explanation_html = serializers.CharField(allow_null=True)
    feedback = ChoiceFeedbackSerializer(many=True, allow_null=True)
    readings = ReadingSerializer(many=True, allow_null=True)


class AttemptDetailSerializer(AttemptSummarySerializer):
    revealed = serializers.BooleanField(help_text="Whether correctness and explanations are shown.")
    questions = PublicQuestionSerializer(many=True, help_text="In this attempt's order.")
    results = ResultSerializer(many=True, help_text="Empty until the attempt has ended.")


def _result_data(*, answer: AttemptAnswer, revealed: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "question": answer.question_id,
        "answered": answer.answered,
        "choices": answer.selected_choice_ids,
        "value": answer.numeric_value,
    }
    if not revealed:
        return data | dict.fromkeys(
            (
                "correct",
                "score",
                "max_score",
                "correct_choices",
                "correct_value",
                "explanation",
                "explanation_html",
                "feedback",
                "readings",
            ),
        )
    question: Question = answer.question
    selected = set(answer.selected_choice_ids)
    # Correctness comes from the key stored at submit; the explanation, feedback and
    # readings are the question's current ones, so an instructor can still improve them.
    return data | {
        "correct": answer.is_correct,
        "score": answer.score,
        "max_score": answer.max_score,
        "correct_choices": answer.correct_choice_ids,
        "correct_value": answer.correct_value,
        "explanation": question.explanation,
        "explanation_html": render_markdown(text=question.explanation),
        "feedback": [
            {"choice": c.id, "feedback": c.feedback} for c in question.choices.all() if c.id in selected and c.feedback
        ],
        "readings": [{"title": r.title, "url": r.url} for r in question.readings.all()],
    }


def attempt_detail_data(*, attempt: Attempt, viewer: AbstractBaseUser | AnonymousUser) -> dict[str, Any]:
    """The attempt as AttemptDetailSerializer documents it, ready to render."""
    revealed = attempt_reveals_answers(attempt=attempt, user=viewer, now=timezone.now())
    presented = attempt_presented_questions(attempt=attempt)
    data = AttemptSummarySerializer(attempt).data
    return {
        **data,
        "revealed": revealed,
        "questions": [public_question_data(question=p.question, points=p.points, choices=p.choices) for p in presented],
        "results": [_result_data(answer=a, revealed=revealed) for a in attempt_answers(attempt=attempt)],
    }


def _visible_quiz(*, slug: str, request: Request) -> Quiz:
    try:
        return quiz_get_visible(slug=slug, user=request.user)
    except Quiz.DoesNotExist:
        raise NotFound(f"There is no quiz '{slug}'.") from None


def _visible_attempt(*, attempt_id: int, request: Request) -> Attempt:
    try:
        return attempt_get_visible(attempt_id=attempt_id, user=request.user)
    except Attempt.DoesNotExist:
        raise NotFound(f"There is no attempt {attempt_id}.") from None


class QuizAttemptsApi(APIView):
    """POST starts an attempt for the caller; GET lists attempts (instructors: everyone's)."""

    @extend_schema(request=None, responses={201: AttemptDetailSerializer})
    def post(self, request: Request, slug: str) -> Response:
        quiz = _visible_quiz(slug=slug, request=request)
        attempt = attempt_start(quiz=quiz, user=request.user)
        data = attempt_detail_data(attempt=attempt, viewer=request.user)
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(
        operation_id="quizzes_attempts_list",
        responses={200: paginated_schema(name="PaginatedAttemptSummaryList", item=AttemptSummarySerializer)},
    )
    def get(self, request: Request, slug: str) -> Response:
        quiz = _visible_quiz(slug=slug, request=request)
        attempts = attempt_list_for_quiz(quiz=quiz, user=request.user)
        return paginated_response(request=request, view=self, queryset=attempts, serializer=AttemptSummarySerializer)


class AttemptDetailApi(APIView):
    @extend_schema(responses={200: AttemptDetailSerializer})
    def get(self, request: Request, attempt_id: int) -> Response:
        attempt = _visible_attempt(attempt_id=attempt_id, request=request)
        return Response(attempt_detail_data(attempt=attempt, viewer=request.user))


class NumberField(serializers.FloatField):
    """A float that refuses JSON true/false, which DRF's FloatField takes as 1.0 and 0.0."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_serializer(component_name="Answer")
class AnswerInputSerializer(serializers.Serializer[Any]):
    question = serializers.IntegerField(min_value=1)
    choices = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=MAX_CHOICES_PER_ANSWER
    )
    value = NumberField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("choices" in attrs) == ("value" in attrs):
            raise serializers.ValidationError(
                'Send either "choices" (a list of choice ids) or "value" (a number), not both or neither.'
            )
        return attrs


class AttemptSubmitApi(APIView):
    @extend_schema_serializer(component_name="Submission")
    class InputSerializer(serializers.Serializer[Any]):
        answers: serializers.ListSerializer[Any] = serializers.ListSerializer(
            child=AnswerInputSerializer(), max_length=MAX_ANSWERS, help_text="Unanswered questions may be left out."
        )

    @extend_schema(request=InputSerializer, responses={200: AttemptDetailSerializer})
    def post(self, request: Request, attempt_id: int) -> Response:
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            attempt = attempt_get_own(attempt_id=attempt_id, user=request.user)
        except Attempt.DoesNotExist:
            raise NotFound(f"There is no attempt {attempt_id}.") from None
        answers = [
            SubmittedAnswer(question_id=e["question"], choice_ids=e.get("choices"), value=e.get("value"))
            for e in serializer.validated_data["answers"]
        ]
        attempt = attempt_submit(attempt=attempt, answers=answers)
        return Response(attempt_detail_data(attempt=attempt, viewer=request.user))
