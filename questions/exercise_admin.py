"""Authoring code exercises in the admin: the exercise, its checks inline, validation.

Saving computes the grading spec's fingerprint; a new spec gets a new answer key that a
worker validates by running the reference solution in the sandbox. Editing never hides
work from students: they keep the last valid key while a new one validates, and when it
fails (the change page says so, in red, and why). Ticking 'published' before any key has
validated publishes the exercise as soon as one does.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from questions.exercises import (
    OPTIONAL_CHECK_KEYS,
    CheckSpec,
    ExerciseSpec,
    check_problems,
    checks_problems,
    data_file_problem,
    exercise_problems,
    signature_name,
    track_names,
)
from questions.models import Exercise, ExerciseCheck, ExerciseDataFile, ExerciseKey, GradePolicy, KeyStatus
from questions.selectors import (
    exercise_current_key,
    exercise_serving_key_in,
    exercise_serving_key_state,
    exercise_weak_checks_warning,
)
from questions.services import data_blob_store, exercise_key_ensure, exercise_key_revalidate
from workers.environments import DEFAULT_ENVIRONMENT, ENVIRONMENTS, environment_get
from workers.queues import grading_queue


class CodeFieldsMixin:
    """Code is kept exactly as typed: Django would strip a final newline, and browsers
    send textareas with CRLF line ends; either would change the grading fingerprint on a
    save that changed nothing."""

    code_fields: tuple[str, ...] = ()
    fields: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.code_fields:
            if name in self.fields:
                self.fields[name].strip = False

    def _normalized(self, data: dict[str, Any]) -> dict[str, Any]:
        for name in self.code_fields:
            if isinstance(data.get(name), str):
                data[name] = data[name].replace("\r\n", "\n")
        return data


class ExerciseCheckForm(CodeFieldsMixin, ModelForm):  # type: ignore[type-arg]
    code_fields = ("setup", "call", "of", "metric")

    class Meta:
        model = ExerciseCheck
        fields = [
            "position", "name", "kind", "points", "is_hidden", "description", "failure_message", "seed", "setup",
            "call", "rtol", "atol", "lower", "upper", "seconds", "track", "of", "wrt", "step",
            "requires", "metric", "variants", "show_expected",
        ]  # fmt: skip

    def clean(self) -> dict[str, Any]:
        data = self._normalized(super().clean() or {})
        if self.errors or data.get("DELETE"):
            return data
        present = frozenset(
            key for key in OPTIONAL_CHECK_KEYS if data.get(key) not in (None, "") and key in self.fields
        )
        check = CheckSpec(
            name=data.get("name", ""),
            kind=data.get("kind", ""),
            call=data.get("call", ""),
            points=data.get("points") or Decimal(0),
            setup=data.get("setup", ""),
            rtol=data.get("rtol"),
            atol=data.get("atol"),
            lower=data.get("lower"),
            upper=data.get("upper"),
            seconds=data.get("seconds"),
            track=track_names(data.get("track", "")),
            of=data.get("of", ""),
            wrt=data.get("wrt", ""),
            step=data.get("step"),
            requires=track_names(data.get("requires", "")),
            metric=data.get("metric", ""),
            variants=data.get("variants") or 1,
        )
        for field, problem in check_problems(check=check, present=present).items():
            self.add_error(field if field in self.fields else None, problem)
        return data


class ExerciseCheckFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        checks = [
            CheckSpec(
                name=form.cleaned_data["name"],
                kind=form.cleaned_data["kind"],
                call=form.cleaned_data.get("call", ""),
                points=form.cleaned_data["points"],
                requires=track_names(form.cleaned_data.get("requires", "")),
            )
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        # The exercise as this save will leave it (the admin applies its form first).
        functions = [line for line in (self.instance.functions or "").splitlines() if line.strip()]
        entry_points = [name for line in functions if (name := signature_name(line))]
        if problems := checks_problems(checks=checks, entry_points=entry_points or None):
            raise ValidationError(problems)


class ExerciseDataFileForm(ModelForm):  # type: ignore[type-arg]
    """A data file: an upload (stored once by content, see DataBlob) and a name, which
    defaults to the uploaded file's."""

    upload = forms.FileField(
        required=False, help_text="The file (.npz, .npy, .csv or .parquet); leave empty to keep the current one."
    )

    class Meta:
        model = ExerciseDataFile
        fields = ["name", "is_hidden"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("upload")
        name = (data.get("name") or (upload.name if upload else "")).strip()
        if not name:
            raise ValidationError("Upload a file (its name is used unless you give one).")
        data["name"] = name
        if upload is None and self.instance.blob_id is None:
            self.add_error("upload", "Upload the file's content.")
            return data
        size = upload.size if upload is not None else self.instance.blob.size
        if problem := data_file_problem(name=name, size=size or 0, max_bytes=settings.EXERCISE_DATA_MAX_BYTES):
            self.add_error("upload" if upload is not None else "name", problem)
        return data

    def save(self, commit: bool = True) -> ExerciseDataFile:
        file: ExerciseDataFile = super().save(commit=False)
        file.name = self.cleaned_data["name"]
        upload = self.cleaned_data.get("upload")
        if upload is not None:
            file.blob = data_blob_store(content=upload.read())
        if commit:
            file.save()
        return file


class ExerciseDataFileInline(admin.TabularInline):  # type: ignore[type-arg]
    model = ExerciseDataFile
    form = ExerciseDataFileForm
    extra = 0
    fields = ["name", "upload", "is_hidden", "size", "sha256"]
    readonly_fields = ["size", "sha256"]
    verbose_name = "data file"
    verbose_name_plural = "Data files (read as data/<name> in the sandbox; hidden ones by check set-ups only)"

    @admin.display(description="bytes")
    def size(self, obj: ExerciseDataFile) -> str:
        return str(obj.blob.size) if obj.blob_id else ""

    @admin.display(description="sha256")
    def sha256(self, obj: ExerciseDataFile) -> str:
        return obj.blob_id[:16] if obj.blob_id else ""


class ExerciseCheckInline(admin.StackedInline):  # type: ignore[type-arg]
    model = ExerciseCheck
    form = ExerciseCheckForm
    formset = ExerciseCheckFormSet
    extra = 0
    fieldsets = [
        (None, {"fields": [("position", "name", "kind", "points", "is_hidden"), "description", "failure_message"]}),
        ("How the student's code is called (runs in the sandbox)", {"fields": [("seed", "variants"), "setup", "call"]}),
        (
            "How the result is judged (on the trusted side)",
            {
                "fields": [
                    "metric",
                    ("rtol", "atol"),
                    ("lower", "upper"),
                    "seconds",
                    "track",
                    ("of", "wrt", "step"),
                    "requires",
                    "show_expected",
                ]
            },
        ),
    ]


class ExerciseForm(CodeFieldsMixin, ModelForm):  # type: ignore[type-arg]
    code_fields = ("prompt", "functions", "starter_code", "reference_solution")

    class Meta:
        model = Exercise
        fields = [
            "slug", "title", "is_published", "prompt", "functions", "starter_code", "reference_solution",
            "environment", "time_limit_seconds", "memory_limit_mb", "grade_policy",
        ]  # fmt: skip

    publish_weak_checks = forms.BooleanField(
        required=False,
        label="Publish although the checks give points to code that does no work",
        help_text="Asked only when the check-strength report flags the exercise (see Validation).",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Optional: a form (or script) that leaves them out keeps the exercise's policy
        # and environment.
        self.fields["grade_policy"].required = False
        self.fields["environment"].required = False

    def clean(self) -> dict[str, Any]:
        data = self._normalized(super().clean() or {})
        if not data.get("grade_policy"):
            data["grade_policy"] = self.instance.grade_policy or GradePolicy.BEST
        if not data.get("environment"):
            data["environment"] = self.instance.environment or DEFAULT_ENVIRONMENT
        if self.errors:
            return data
        spec = ExerciseSpec(
            slug=data.get("slug", ""),
            title=data.get("title", ""),
            prompt=data.get("prompt", ""),
            functions=tuple(line.strip() for line in data.get("functions", "").splitlines() if line.strip()),
            reference_solution=data.get("reference_solution", ""),
            starter_code=data.get("starter_code", ""),
            time_limit_seconds=data.get("time_limit_seconds", 5),
            memory_limit_mb=data.get("memory_limit_mb", 512),
            environment=data.get("environment") or DEFAULT_ENVIRONMENT,
        )
        problems = exercise_problems(spec=spec)
        for field, problem in problems.items():
            self.add_error(field, problem)
        self._confirm_weak_checks(data)
        return data

    def _confirm_weak_checks(self, data: dict[str, Any]) -> None:
        """Publishing an exercise whose checks pay a constant asks for confirmation."""
        publishing = data.get("is_published") and not (self.instance.pk and self.instance.is_published)
        if not publishing or not self.instance.pk or data.get("publish_weak_checks"):
            return
        if warning := exercise_weak_checks_warning(exercise=self.instance):
            self.add_error(
                "publish_weak_checks",
                f"The check-strength report says the {warning}. Strengthen the checks (e.g. with `requires`), "
                "or tick this box to publish anyway.",
            )


KEEPS_PREVIOUS = "Students keep the previous version, which validated, until this one does."
PUBLISHED_ONCE_VALID = "Not visible to students yet: it will be published as soon as validation passes."
NOT_FULL_MARKS = "the reference solution does not score full marks (see the checks below)"


def _live_notice(*, exercise: Exercise, key: ExerciseKey) -> SafeString | str:
    """What students get while the newest key is not the one they are served: the
    previous version (in red when the newest failed, with why), or nothing yet."""
    if key.status == KeyStatus.VALID:
        return ""
    live = exercise_serving_key_state(exercise=exercise)
    failed = key.status == KeyStatus.INVALID
    if live is not None and failed:
        return format_html(
            '<p class="errornote">This version failed validation, so {} the previous one, which validated: {}</p>',
            "students are still served" if exercise.is_published else "students would be served",
            key.summary or NOT_FULL_MARKS,
        )
    if live is not None:
        return format_html("<p>{}</p>", KEEPS_PREVIOUS) if exercise.is_published else ""
    if not exercise.is_published:
        return ""
    if failed:
        return format_html(
            '<p class="errornote">Published, but not visible to students: it will be published as soon as '
            "validation passes, and this version failed: {}</p>",
            key.summary or NOT_FULL_MARKS,
        )
    return format_html("<p>{}</p>", PUBLISHED_ONCE_VALID)


def _waiting_notice(*, key: ExerciseKey) -> SafeString | str:
    """A key still pending waits for a worker of its environment: say which, since on a
    machine without that environment it waits until an operator installs it."""
    if key.status != KeyStatus.PENDING:
        return ""
    environment = environment_get(key.environment) if key.environment in ENVIRONMENTS else None
    title = environment.title if environment else key.environment
    return format_html(
        "<p>Waiting for a worker of the {} environment (queue <code>{}</code>). If none comes, no worker "
        "consumes that queue: on the worker machine, <code>make env ENV={}</code> installs the environment "
        "and a restarted worker takes its queue (see the README).</p>",
        title,
        grading_queue(key.environment),
        key.environment,
    )


def _strength_report(*, key: ExerciseKey) -> SafeString | str:
    """What the starter code and generated non-solutions score under this key, and which
    checks each passes; in red when a constant (or the starter code) scores anything."""
    strength = key.strength or {}
    if not strength.get("runs"):
        return format_html("<p>{}</p>", strength["error"]) if strength.get("error") else ""
    flag = strength.get("flag", "")
    notice = (
        format_html('<p class="errornote">Weak checks: the {}. Give property checks `requires`.</p>', flag)
        if flag
        else format_html("<p>{}</p>", "No constant and not the starter code scores any point.")
    )
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}/{}</td><td>{}</td></tr>",
        (
            (row["label"], row["score"], row["max_score"], ", ".join(row["passing"]) or "none")
            for row in strength["runs"]
        ),
    )
    return format_html(
        "<h3>Check strength</h3>{}<table><tr><th>code that does no real work</th><th>points</th>"
        "<th>checks it passes</th></tr>{}</table>",
        notice,
        rows,
    )


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = ExerciseForm
    inlines = [ExerciseCheckInline, ExerciseDataFileInline]
    list_display = ["title", "slug", "is_published", "validation_status", "check_count"]
    list_filter = ["is_published"]
    search_fields = ["title", "slug", "prompt"]
    readonly_fields = ["validation"]
    actions = ["validate_exercises"]
    fieldsets = [
        (None, {"fields": ["slug", "title", "is_published", "publish_weak_checks", "validation"]}),
        ("Statement", {"fields": ["prompt", "functions", "starter_code"]}),
        ("Grading", {"fields": ["environment", "reference_solution", ("time_limit_seconds", "memory_limit_mb")]}),
        ("LMS gradebook", {"fields": ["grade_policy"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Exercise]:
        return super().get_queryset(request).prefetch_related("checks", "keys")

    def get_fieldsets(self, request: HttpRequest, obj: Exercise | None = None) -> Any:
        """The confirmation box only where publishing would need it."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not obj.is_published and exercise_weak_checks_warning(exercise=obj):
            return fieldsets
        return [
            (name, {**options, "fields": [f for f in options["fields"] if f != "publish_weak_checks"]})
            for name, options in fieldsets
        ]

    @admin.display(description="checks")
    def check_count(self, exercise: Exercise) -> int:
        return len(exercise.checks.all())

    @admin.display(description="validation")
    def validation_status(self, exercise: Exercise) -> str:
        keys = exercise.keys.all()
        key = next((k for k in keys if k.fingerprint == exercise.spec_fingerprint), None)
        if key is None:
            return "not validated"
        live = exercise_serving_key_in(keys=keys, fingerprint=exercise.spec_fingerprint)
        if exercise.is_published and live is not None and live.pk != key.pk:
            return f"{key.get_status_display()} (students get the previous version)"
        visible = " (visible to students)" if exercise.is_published and live is not None else ""
        weak = " — weak checks" if (key.strength or {}).get("flag") else ""
        return f"{key.get_status_display()}{visible}{weak}"

    @admin.display(description="Validation")
    def validation(self, exercise: Exercise) -> SafeString | str:
        key = exercise_current_key(exercise=exercise) if exercise.pk else None
        if key is None:
            return "Saved exercises are validated by running the reference solution in the sandbox."
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td></tr>",
            (
                (row["name"], "passed" if row["passed"] else "FAILED", row["score"], row["max_score"], row["message"])
                for row in key.report
            ),
        )
        return format_html(
            "{}<p><strong>{}</strong>{}</p>{}<table><tr><th>check</th><th></th><th>points</th><th>message</th></tr>{}"
            "</table>{}",
            _live_notice(exercise=exercise, key=key),
            key.get_status_display(),
            f" — {key.summary}" if key.summary else "",
            _waiting_notice(key=key),
            rows,
            _strength_report(key=key),
        )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        key = exercise_key_ensure(exercise=form.instance)
        if key.status in (KeyStatus.PENDING, KeyStatus.RUNNING):
            messages.info(
                request, "The reference solution is being validated in the sandbox; reload to see the result."
            )
            if form.instance.is_published:
                live = exercise_serving_key_state(exercise=form.instance)
                messages.info(request, KEEPS_PREVIOUS if live is not None else PUBLISHED_ONCE_VALID)

    @admin.action(description="Validate: run the reference solution through the grader")
    def validate_exercises(self, request: HttpRequest, queryset: QuerySet[Exercise]) -> None:
        for exercise in queryset:
            exercise_key_revalidate(exercise=exercise)
        messages.info(request, f"Validation queued for {queryset.count()} exercise(s); reload to see the results.")
