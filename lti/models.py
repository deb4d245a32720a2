"""LMS platforms registered with the tool, and the tool's own signing keys.

A platform (one LMS installation's registration of this tool) is identified by its
issuer and the client id it gave the tool; launches are accepted only for its listed
deployments. The tool signs what it sends platforms (deep-linking responses, OAuth2
client assertions) with an RSA key kept here: generated on first use, rotated from the
admin, and published at /lti/jwks/ until it expires, so platforms holding a cached key
set keep verifying messages signed just before a rotation.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from grader.models import Attempt, Submission
from lti.validation import ENDPOINT_FIELDS, frame_origins_parse, platform_problems
from questions.models import Exercise, Quiz


class Platform(models.Model):
    name = models.CharField(max_length=200, help_text="For people, e.g. 'University Moodle'.")
    issuer = models.CharField(max_length=255, help_text="The platform's `iss`, e.g. https://canvas.instructure.com.")
    client_id = models.CharField(max_length=255, help_text="The client id the platform assigned to this tool.")
    auth_login_url = models.URLField(max_length=500, help_text="The platform's OIDC authorisation endpoint.")
    auth_token_url = models.URLField(
        max_length=500, help_text="The platform's OAuth2 token endpoint (grades, rosters)."
    )
    auth_audience = models.CharField(
        max_length=500, blank=True, help_text="The `aud` of client assertions when not the token URL (rare)."
    )
    keyset_url = models.URLField(max_length=500, help_text="Where the platform publishes its public keys (JWKS).")
    is_active = models.BooleanField(default=True, help_text="Inactive platforms cannot launch.")
    frame_origins = models.TextField(
        blank=True,
        help_text="Origins allowed to show the tool in a frame, one per line (e.g. https://school.instructure.com). "
        "The issuer's and login URL's origins are always allowed.",
    )
    # The platform's key set as last fetched (lti.platform_keys), kept here rather than in
    # a cache so that every process sees it and a fetch can be claimed by one of them.
    key_set = models.JSONField(default=dict, blank=True, editable=False)
    key_set_fetched_at = models.DateTimeField(null=True, blank=True, editable=False)
    key_set_tried_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "client_id"], name="lti_platform_issuer_client_unique"),
        ]
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.issuer}, client {self.client_id})"

    def clean(self) -> None:
        urls = {field: getattr(self, field) for field in ENDPOINT_FIELDS}
        if problems := platform_problems(issuer=self.issuer, urls=urls, frame_origins=self.frame_origins):
            raise ValidationError(problems)
        self.frame_origins = "\n".join(frame_origins_parse(text=self.frame_origins)[0])


class Deployment(models.Model):
    """One placement of the tool in the platform (an LMS may deploy a registration many times)."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="deployments")
    deployment_id = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "deployment_id"], name="lti_deployment_unique"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.deployment_id


class ToolKey(models.Model):
    """An RSA key pair the tool signs with. One is current; retired keys stay published
    until `expires_at`, then only their row remains."""

    kid = models.CharField(max_length=64, unique=True)
    private_key_pem = models.TextField(help_text="PKCS#8 PEM; never shown in the admin.")
    public_jwk = models.JSONField(help_text="The public key as a JWK with kid, alg and use.")
    created_at = models.DateTimeField()
    is_current = models.BooleanField(default=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="No longer published after this.")

    class Meta:
        constraints = [
            # At most one current key, so two first uses at once cannot both create one.
            models.UniqueConstraint(
                fields=["is_current"], condition=Q(is_current=True), name="lti_one_current_tool_key"
            ),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.kid


class LaunchData(models.Model):
    """What the OIDC login leaves for the launch that follows it (the nonce, in
    pylti1p3's key format) and validated launch claims (for deep linking), kept in the
    database so that any web process can finish a login another one began, with or
    without Redis. A nonce row is deleted by the launch that uses it: used once."""

    key = models.CharField(max_length=255, unique=True)
    value = models.JSONField()
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key


class LtiIdentity(models.Model):
    """A platform's user (its `sub`) as one local user."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="identities")
    sub = models.CharField(max_length=255)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lti_identity")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "sub"], name="lti_identity_unique")]

    def __str__(self) -> str:
        return f"{self.sub} at {self.platform.issuer}"


class Course(models.Model):
    """A platform's context (a course or section), with its members' roles."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="courses")
    context_id = models.CharField(max_length=255)
    title = models.CharField(max_length=255, blank=True)
    label = models.CharField(max_length=255, blank=True)
    # Services the platform offers for this course, from the last launch's claims.
    lineitems_url = models.URLField(max_length=500, blank=True)
    ags_scopes = models.JSONField(default=list, blank=True)
    memberships_url = models.URLField(max_length=500, blank=True, help_text="NRPS: where the roster is read.")
    roster_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "context_id"], name="lti_course_unique")]
        ordering = ["title", "id"]

    def __str__(self) -> str:
        return self.title or self.label or self.context_id


class CourseRole(models.TextChoices):
    INSTRUCTOR = "instructor", "Instructor"
    STUDENT = "student", "Student"


class CourseMembership(models.Model):
    """A user's role in a course, as the platform's last launch (or roster) said."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="course_memberships")
    role = models.CharField(max_length=20, choices=CourseRole.choices)
    is_active = models.BooleanField(default=True, help_text="False when the roster says the member left.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["course", "user"], name="lti_membership_unique")]

    def __str__(self) -> str:
        return f"{self.user} in {self.course}: {self.role}"


class ResourceLink(models.Model):
    """A placement of the tool in a course (an LMS assignment or link), pointing at a quiz
    or an exercise, with the gradebook column (AGS line item) its grades go to."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="resource_links")
    resource_link_id = models.CharField(max_length=255)
    title = models.CharField(max_length=255, blank=True)
    quiz = models.ForeignKey(Quiz, on_delete=models.PROTECT, null=True, blank=True, related_name="resource_links")
    exercise = models.ForeignKey(
        Exercise, on_delete=models.PROTECT, null=True, blank=True, related_name="resource_links"
    )
    lineitem_url = models.URLField(max_length=500, blank=True, help_text="AGS: the gradebook column of this link.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["course", "resource_link_id"], name="lti_resource_link_unique"),
            models.CheckConstraint(
                condition=Q(quiz__isnull=True) | Q(exercise__isnull=True), name="lti_resource_link_one_target"
            ),
        ]
        ordering = ["course", "title", "id"]

    def __str__(self) -> str:
        return self.title or self.resource_link_id


class PassbackState(models.TextChoices):
    PENDING = "pending", "Pending"  # to be sent at next_try_at
    SENDING = "sending", "Sending"  # claimed by a worker until lease_expires_at
    SENT = "sent", "Sent"
    SUPERSEDED = "superseded", "Superseded"  # a newer grade for the same column was sent instead
    FAILED = "failed", "Failed"  # the platform refused it for good, or retries ran out; resend from the admin


class Passback(models.Model):
    """One grade (a submitted quiz attempt or a graded code submission) to be posted to
    one resource link's gradebook column, created in the grade's own transaction so it
    cannot be lost, and sent by workers until the platform accepts it."""

    resource_link = models.ForeignKey(ResourceLink, on_delete=models.CASCADE, related_name="passbacks")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="passbacks")
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, null=True, blank=True, related_name="passbacks")
    submission = models.ForeignKey(
        Submission, on_delete=models.CASCADE, null=True, blank=True, related_name="passbacks"
    )
    score_given = models.DecimalField(max_digits=8, decimal_places=2)
    score_maximum = models.DecimalField(max_digits=8, decimal_places=2)
    graded_at = models.DateTimeField(help_text="The grade's time, sent as the score's timestamp.")
    state = models.CharField(max_length=12, choices=PassbackState.choices, default=PassbackState.PENDING)
    tries = models.PositiveIntegerField(default=0)
    next_try_at = models.DateTimeField()
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["resource_link", "attempt"],
                condition=Q(attempt__isnull=False),
                name="lti_passback_attempt_once",
            ),
            models.UniqueConstraint(
                fields=["resource_link", "submission"],
                condition=Q(submission__isnull=False),
                name="lti_passback_submission_once",
            ),
            models.CheckConstraint(
                condition=Q(attempt__isnull=True) ^ Q(submission__isnull=True), name="lti_passback_one_grade"
            ),
        ]
        indexes = [
            models.Index(fields=["state", "next_try_at"], name="lti_passback_due"),
            models.Index(fields=["resource_link", "user", "graded_at"], name="lti_passback_column_user"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.score_given}/{self.score_maximum} for {self.user} to {self.resource_link}: {self.state}"


class RegistrationInvite(models.Model):
    """A one-time link with which an LMS admin registers their platform by LTI Dynamic
    Registration without an account here (`/lti/register/?invite=<token>`). Only the
    token's SHA-256 is kept: the link is shown once, when the invite is made. A
    registration claims the invite (a conditional UPDATE on `used_at`), so two uses at
    once cannot both register; a registration that fails gives it back."""

    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    note = models.CharField(max_length=200, blank=True, help_text="For people: which LMS this invite is for.")
    lms_origin = models.CharField(
        max_length=255,
        blank=True,
        help_text="The LMS's web address when it differs from its issuer (hosted Canvas: "
        "https://school.instructure.com): it may frame the registration page, and becomes a frame origin "
        "of the platform.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    platform = models.ForeignKey(
        Platform,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The platform registered with this invite.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.note or f"Invite of {self.created_at:%Y-%m-%d %H:%M}"
