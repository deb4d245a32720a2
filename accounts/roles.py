"""Who is an instructor. One definition, used by the API, the admin and the services."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

INSTRUCTORS_GROUP = "instructors"


def user_is_instructor(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if getattr(user, "is_staff", False):
        return True
    groups = getattr(user, "groups", None)
    return groups is not None and bool(groups.filter(name=INSTRUCTORS_GROUP).exists())


def user_pk(*, user: AbstractBaseUser | AnonymousUser) -> int:
    """The id of a signed-in user; views only call this behind IsAuthenticated."""
    if not user.is_authenticated or user.pk is None:
        raise PermissionError("an anonymous user has no id")
    return int(user.pk)
