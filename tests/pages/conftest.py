"""Browser-like clients signed in (with the session cookie, as after the login page or
an LTI launch) as each of the named role users."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.cache import cache
from django.test import Client


@pytest.fixture(autouse=True)
def _fresh_throttle_counts() -> None:
    cache.clear()


def _signed_in(user: AbstractUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def student_client(student: AbstractUser) -> Client:
    return _signed_in(student)


@pytest.fixture
def other_student_client(other_student: AbstractUser) -> Client:
    return _signed_in(other_student)


@pytest.fixture
def instructor_client(instructor: AbstractUser) -> Client:
    return _signed_in(instructor)
