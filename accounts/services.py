from __future__ import annotations

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import AbstractUser, Group, Permission
from django.db import transaction
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from accounts.roles import INSTRUCTORS_GROUP
from config.errors import Refusal, ServiceError

# What instructors may do in the admin: author the bank, quizzes and exercises; read
# attempts, submissions and how they were graded.
INSTRUCTOR_PERMISSIONS = {
    "questions": [
        "question",
        "choice",
        "reading",
        "tag",
        "quiz",
        "quizquestion",
        "exercise",
        "exercisecheck",
        "exercisedatafile",
    ],
    "grader": [],
}
INSTRUCTOR_VIEW_ONLY = {"grader": ["attempt", "attemptanswer", "submission", "gradingjob", "gradingresult"]}


@transaction.atomic
def instructors_group_ensure() -> Group:
    group, _ = Group.objects.get_or_create(name=INSTRUCTORS_GROUP)
    permissions: list[Permission] = []
    for app_label, models in INSTRUCTOR_PERMISSIONS.items():
        for model in models:
            permissions += Permission.objects.filter(content_type__app_label=app_label, content_type__model=model)
    for app_label, models in INSTRUCTOR_VIEW_ONLY.items():
        for model in models:
            permissions += Permission.objects.filter(
                content_type__app_label=app_label, content_type__model=model, codename__startswith="view_"
            )
    group.permissions.set(permissions)
    return group


@transaction.atomic
def user_ensure(*, username: str, password: str, instructor: bool) -> AbstractUser:
    """Create the user, or reset an existing one's password and role (demo accounts)."""
    user_model: type[AbstractUser] = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_staff = instructor
    user.save()
    if instructor:
        user.groups.add(instructors_group_ensure())
    return user


def token_obtain(*, request: HttpRequest, username: str, password: str) -> str:
    """The user's API token (created on first use) for a correct username and password."""
    user = authenticate(request, username=username, password=password)
    if user is None:
        raise ServiceError(
            kind=Refusal.INVALID,
            code="invalid_credentials",
            message="The username or password is wrong, or the account is disabled.",
        )
    token, _ = Token.objects.get_or_create(user=user)
    return str(token.key)
