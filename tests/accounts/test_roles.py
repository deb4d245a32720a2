from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from accounts.roles import user_is_instructor
from tests.factories import UserFactory


def test_it_counts_staff_and_the_instructors_group(student, instructor, db):
    staff = UserFactory(username="dana", is_staff=True)
    assert user_is_instructor(user=instructor)
    assert user_is_instructor(user=staff)
    assert not user_is_instructor(user=student)
    assert not user_is_instructor(user=AnonymousUser())


def test_it_grants_instructors_authoring_but_not_attempt_edits(instructor):
    assert instructor.has_perm("questions.change_question")
    assert instructor.has_perm("grader.view_attempt")
    assert not instructor.has_perm("grader.change_attempt")
