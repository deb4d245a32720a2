from __future__ import annotations

from django.contrib.auth.models import AbstractUser

from grader.grading import submission_create
from grader.models import Attempt, Submission
from grader.services import attempt_start
from questions.models import Exercise, Quiz
from tests.exercises import make_exercise

NINE = {"shape": None, "values": 9.0}


def square_exercise() -> Exercise:
    """tests.exercises.SQUARE with an answer key trusted as valid: 9.0 everywhere, so a
    runner answering 9.0 to every call passes every check."""
    return make_exercise(expected={"three": NINE, "hidden-negative": NINE, "vector": NINE})


def attempt_for(user: AbstractUser, quiz: Quiz) -> Attempt:
    return attempt_start(quiz=quiz, user=user)


def submission_for(user: AbstractUser, code: str = "def square(x):\n    return 9.0\n") -> Submission:
    exercise = Exercise.objects.filter(slug="square").first() or square_exercise()
    return submission_create(user=user, exercise=exercise, code=code)
