"""Roster sync over NRPS against the in-repo platform (real HTTP, real token exchange)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from lti.keys import tool_jwks
from lti.models import Course, CourseMembership, CourseRole, Platform, ResourceLink
from lti.roster import RosterUnavailable, course_roster_sync
from lti.selectors import link_gradebook
from lti.services import identity_user_ensure
from tests.factories import QuestionFactory, QuizFactory
from tests.lti.platform import INSTRUCTOR, Person, TestPlatform


@pytest.fixture
def lms(db: None) -> Iterator[TestPlatform]:
    platform = TestPlatform()
    with override_settings(LTI_ALLOW_HTTP=True, LTI_HTTP_TIMEOUT_SECONDS=2), platform.serving(issuer_is_base=True):
        yield platform


@pytest.fixture
def course(lms: TestPlatform) -> Course:
    lms.tool_keys = tool_jwks(now=timezone.now())["keys"]
    return Course.objects.create(
        platform=lms.register(), context_id="course-101", memberships_url=f"{lms.base_url}/memberships/course-101"
    )


def roster(*people: Person) -> list[Person]:
    return list(people)


def test_a_sync_adds_the_members_with_their_roles_and_names(lms: TestPlatform, course: Course) -> None:
    lms.members["course-101"] = roster(
        Person(sub="s1", name="Ada Lovelace", given_name="Ada", family_name="Lovelace"),
        Person(sub="s2", given_name="Grace", family_name="Hopper", email=""),
        Person(sub="t1", role=INSTRUCTOR, given_name="Alan", family_name="Turing"),
        Person(sub="x1", role="http://purl.imsglobal.org/vocab/lis/v2/membership#Mentor"),
    )
    report = course_roster_sync(course=course, now=timezone.now())
    assert (report.members, report.added, report.left) == (3, 3, 0)
    rows = {(m.user.first_name, m.role, m.is_active) for m in CourseMembership.objects.select_related("user")}
    assert rows == {("Ada", CourseRole.STUDENT, True), ("Grace", CourseRole.STUDENT, True),
                    ("Alan", CourseRole.INSTRUCTOR, True)}  # fmt: skip
    course.refresh_from_db()
    assert course.roster_synced_at is not None


def test_the_roster_user_is_the_user_a_later_launch_signs_in(lms: TestPlatform, course: Course) -> None:
    lms.members["course-101"] = roster(Person(sub="s1"))
    course_roster_sync(course=course, now=timezone.now())
    assert identity_user_ensure(platform=course.platform, sub="s1") == CourseMembership.objects.get().user


def test_members_who_left_or_are_inactive_are_marked_not_deleted(lms: TestPlatform, course: Course) -> None:
    lms.members["course-101"] = roster(Person(sub="s1"), Person(sub="s2"), Person(sub="s3"))
    course_roster_sync(course=course, now=timezone.now())
    lms.members["course-101"] = roster(Person(sub="s1"), Person(sub="s2", status="Inactive"))
    report = course_roster_sync(course=course, now=timezone.now())
    assert report.left == 1
    active = dict(CourseMembership.objects.values_list("user__lti_identity__sub", "is_active"))
    assert active == {"s1": True, "s2": False, "s3": False}


def test_a_roster_in_pages_is_read_to_the_end(lms: TestPlatform, course: Course) -> None:
    lms.members["course-101"] = [Person(sub=f"s{n}") for n in range(7)]
    lms.roster_page_size = 3
    assert course_roster_sync(course=course, now=timezone.now()).members == 7
    assert lms.roster_requests == 3


def test_the_gradebook_lists_members_who_have_not_submitted(lms: TestPlatform, course: Course) -> None:
    quiz = QuizFactory(questions=[QuestionFactory()])
    link = ResourceLink.objects.create(course=course, resource_link_id="l1", quiz=quiz)
    lms.members["course-101"] = roster(Person(sub="s1", given_name="Ada", family_name="Lovelace"))
    course_roster_sync(course=course, now=timezone.now())
    (row,) = link_gradebook(link=link)
    assert (row.name, row.score, row.tries) == ("Ada Lovelace", None, 0)


def test_a_platform_that_is_down_changes_nothing(lms: TestPlatform, course: Course) -> None:
    lms.members["course-101"] = roster(Person(sub="s1"))
    lms.down = True
    with pytest.raises(RosterUnavailable):
        course_roster_sync(course=course, now=timezone.now())
    assert not CourseMembership.objects.exists()


def test_a_course_without_the_roster_service_says_so(lms: TestPlatform, course: Course) -> None:
    Course.objects.filter(pk=course.pk).update(memberships_url="")
    course.refresh_from_db()
    with pytest.raises(RosterUnavailable, match="no roster"):
        course_roster_sync(course=course, now=timezone.now())


def test_a_next_page_at_another_address_is_not_followed(lms: TestPlatform, course: Course) -> None:
    # The next page comes from a response header: following it elsewhere would hand our
    # bearer token (and a request from this server) to an address of the platform's choosing.
    lms.members["course-101"] = roster(*(Person(sub=f"s{n}") for n in range(4)))
    lms.roster_page_size = 2
    lms.roster_next_base = "http://localhost:9"
    with pytest.raises(RosterUnavailable, match="another address"):
        course_roster_sync(course=course, now=timezone.now())
    assert lms.roster_requests == 1
    assert not CourseMembership.objects.exists()


@pytest.mark.parametrize("next_base", ["http://127.0.0.2:9\\@{host}", "http://[bad"])
def test_a_next_page_address_read_two_ways_or_malformed_is_not_followed(
    lms: TestPlatform, course: Course, next_base: str
) -> None:
    # Python's urlsplit reads the first as {host}; urllib3, which connects, as 127.0.0.2.
    lms.members["course-101"] = roster(*(Person(sub=f"s{n}") for n in range(4)))
    lms.roster_page_size = 2
    lms.roster_next_base = next_base.format(host=lms.base_url.removeprefix("http://"))
    with pytest.raises(RosterUnavailable, match="not a web address"):
        course_roster_sync(course=course, now=timezone.now())
    assert lms.roster_requests == 1


def test_an_inactive_platform_is_not_asked_for_a_roster(lms: TestPlatform, course: Course) -> None:
    Platform.objects.filter(pk=course.platform_id).update(is_active=False)
    course.refresh_from_db()
    with pytest.raises(RosterUnavailable, match="inactive"):
        course_roster_sync(course=course, now=timezone.now())
    assert lms.token_requests == 0


def test_a_roster_larger_than_the_cap_is_refused_not_half_synced(
    lms: TestPlatform, course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("lti.roster.MAX_MEMBERS", 3)
    lms.members["course-101"] = roster(*(Person(sub=f"s{n}") for n in range(4)))
    with pytest.raises(RosterUnavailable, match="more than 3 members"):
        course_roster_sync(course=course, now=timezone.now())
    assert not CourseMembership.objects.exists()


def test_a_roster_address_over_plain_http_gets_no_token(lms: TestPlatform, course: Course) -> None:
    with override_settings(LTI_ALLOW_HTTP=False), pytest.raises(RosterUnavailable, match="not https"):
        course_roster_sync(course=course, now=timezone.now())
    assert lms.token_requests == 0


def test_teaching_assistants_sent_by_their_sub_role_alone_are_instructors(lms: TestPlatform, course: Course) -> None:
    ta = "http://purl.imsglobal.org/vocab/lis/v2/membership/Instructor#TeachingAssistant"
    guest = "http://purl.imsglobal.org/vocab/lis/v2/membership/Learner#GuestLearner"
    lms.members["course-101"] = roster(Person(sub="ta", role=ta), Person(sub="g", role=guest))
    course_roster_sync(course=course, now=timezone.now())
    roles = dict(CourseMembership.objects.values_list("user__lti_identity__sub", "role"))
    assert roles == {"ta": CourseRole.INSTRUCTOR, "g": CourseRole.STUDENT}


def test_the_instructor_who_syncs_is_not_marked_as_left(lms: TestPlatform, course: Course, client: Client) -> None:
    # An LMS administrator acting in a course may not be on its roster; their sync must
    # not lock them out of the page they are on.
    admin = identity_user_ensure(platform=course.platform, sub="lms-admin")
    CourseMembership.objects.create(course=course, user=admin, role=CourseRole.INSTRUCTOR)
    lms.members["course-101"] = roster(Person(sub="s1"))
    client.force_login(admin)
    assert client.post(f"/lti/courses/{course.pk}/roster/").status_code == 302
    assert CourseMembership.objects.get(user=admin).is_active


def test_only_the_courses_instructors_may_sync(lms: TestPlatform, course: Course, client: Client) -> None:
    lms.members["course-101"] = roster(Person(sub="s1"))
    student = identity_user_ensure(platform=course.platform, sub="s9")
    CourseMembership.objects.create(course=course, user=student, role=CourseRole.STUDENT)
    client.force_login(student)
    assert client.post(f"/lti/courses/{course.pk}/roster/").status_code == 403
    assert CourseMembership.objects.count() == 1

    teacher = identity_user_ensure(platform=course.platform, sub="t9")
    CourseMembership.objects.create(course=course, user=teacher, role=CourseRole.INSTRUCTOR)
    client.force_login(teacher)
    lms.members["course-101"].append(Person(sub="t9", role=INSTRUCTOR))
    response = client.post(f"/lti/courses/{course.pk}/roster/", {"next": "/lti/links/1/"})
    assert response.status_code == 302
    assert response["Location"] == "/lti/links/1/"
    assert CourseMembership.objects.filter(is_active=True).count() == 2  # s1 and t9; s9 left


def test_a_sync_with_the_platform_down_is_a_page_not_a_500(lms: TestPlatform, course: Course, client: Client) -> None:
    teacher = identity_user_ensure(platform=course.platform, sub="t9")
    CourseMembership.objects.create(course=course, user=teacher, role=CourseRole.INSTRUCTOR)
    client.force_login(teacher)
    lms.down = True
    response = client.post(f"/lti/courses/{course.pk}/roster/")
    assert response.status_code == 503
    assert b"could not be synced" in response.content
