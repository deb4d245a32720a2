"""Shared fixtures: three named role users and API clients signed in as each of them.

student (alice) and other_student (bob) are students; instructor (charlie) is in the
instructors group without being staff, so tests exercise the group path of the role.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.services import instructors_group_ensure
from questions.models import Quiz
from tests.factories import MultipleQuestionFactory, NumericQuestionFactory, QuestionFactory, QuizFactory, UserFactory


@pytest.fixture
def student(db: None) -> AbstractUser:
    return UserFactory(username="alice")


@pytest.fixture
def other_student(db: None) -> AbstractUser:
    return UserFactory(username="bob")


@pytest.fixture
def instructor(db: None) -> AbstractUser:
    user = UserFactory(username="charlie")
    user.groups.add(instructors_group_ensure())
    return user


def _client_for(user: AbstractUser | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def anon_api(db: None) -> APIClient:
    return _client_for(None)


@pytest.fixture
def student_api(student: AbstractUser) -> APIClient:
    return _client_for(student)


@pytest.fixture
def other_student_api(other_student: AbstractUser) -> APIClient:
    return _client_for(other_student)


@pytest.fixture
def instructor_api(instructor: AbstractUser) -> APIClient:
    return _client_for(instructor)


@pytest.fixture
def staff(instructor: AbstractUser) -> Client:
    """A browser signed in to the admin as the instructor, given staff rights."""
    instructor.is_staff = True
    instructor.save()
    client = Client()
    client.force_login(instructor)
    return client


@pytest.fixture
def make_quiz(db: None) -> Callable[..., Quiz]:
    """A published quiz with a single-choice, a select-all and a numeric question."""

    def make(**fields: Any) -> Quiz:
        questions = [QuestionFactory(), MultipleQuestionFactory(), NumericQuestionFactory()]
        return QuizFactory(questions=questions, **fields)

    return make


@pytest.fixture
def quiz(make_quiz: Callable[..., Quiz]) -> Quiz:
    return make_quiz(slug="basics")
