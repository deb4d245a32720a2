"""Who is an instructor. One definition, used by the API, the admin and the services."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

INSTRUCTORS_GROUP = "instructors"


# Remembered on the user object, as Django remembers permissions (_perm_cache): one
# request asks several times (visibility, then the response), and each user object
# lives for one request.
CACHE_ATTRIBUTE = "_is_instructor_cache"


def user_is_instructor(*, user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if getattr(user, "is_staff", False):
        return True
    cached = getattr(user, CACHE_ATTRIBUTE, None)
    if cached is None:
        groups = getattr(user, "groups", None)
        cached = groups is not None and bool(groups.filter(name=INSTRUCTORS_GROUP).exists())
        setattr(user, CACHE_ATTRIBUTE, cached)
    return bool(cached)


def user_pk(*, user: AbstractBaseUser | AnonymousUser) -> int:
    """The id of a signed-in user; views only call this behind IsAuthenticated."""
    if not user.is_authenticated or user.pk is None:
        raise PermissionError("an anonymous user has no id")
    return int(user.pk)
