from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.forms import BaseInlineFormSet, ModelForm
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from questions.markdown import render_markdown
from questions.models import Choice, Question, Quiz, QuizQuestion, Reading, Tag
from questions.selectors import quiz_reveal_waits_for_last_attempt
from questions.services import question_duplicate
from questions.validation import ChoiceDraft, choice_problems, numeric_problems


class ChoiceFormSet(BaseInlineFormSet):  # type: ignore[type-arg]
    """Checks the question and its choices together, since the rules span both."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        question = self.instance
        choices = [
            ChoiceDraft(text=form.cleaned_data.get("text", ""), is_correct=form.cleaned_data.get("is_correct", False))
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        ]
        problems = choice_problems(type=question.type, choices=choices)
        if problems:
            raise ValidationError(problems)


class ChoiceInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Choice
    formset = ChoiceFormSet
    extra = 0
    fields = ["position", "text", "is_correct", "feedback"]


class ReadingInline(admin.TabularInline):  # type: ignore[type-arg]
    model = Reading
    extra = 0
    # A reading typed without a scheme is a web page: assume https (Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fields = ["position", "title", "url", "text"]


def _preview(markdown_text: str) -> SafeString:
    html = render_markdown(text=markdown_text) if markdown_text else "<em>(empty)</em>"
    # render_markdown sanitizes, so the HTML can be shown as it is.
    return format_html('<div class="markdown-preview" style="max-width:60em">{}</div>', mark_safe(html))  # noqa: S308


class QuestionForm(ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = Question
        fields = [
            "title",
            "slug",
            "type",
            "points",
            "tags",
            "prompt",
            "explanation",
            "scoring",
            "numeric_answer",
            "abs_tolerance",
            "rel_tolerance",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        problems = numeric_problems(
            type=data.get("type", ""),
            numeric_answer=data.get("numeric_answer"),
            abs_tolerance=data.get("abs_tolerance"),
            rel_tolerance=data.get("rel_tolerance"),
        )
        for field, message in problems.items():
            self.add_error(field, message)
        return data


@admin.register(Question)
class QuestionAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    form = QuestionForm
    list_display = ["title", "slug", "type", "points", "tag_list", "updated_at"]
    list_filter = ["type", "tags"]
    search_fields = ["title", "slug", "prompt", "tags__name"]
    prepopulated_fields = {"slug": ["title"]}
    filter_horizontal = ["tags"]
    inlines = [ChoiceInline, ReadingInline]
    actions = ["duplicate_questions"]
    readonly_fields = ["prompt_preview", "explanation_preview"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "type", "points", "tags"]}),
        ("Prompt", {"fields": ["prompt", "prompt_preview"]}),
        ("Explanation", {"fields": ["explanation", "explanation_preview"]}),
        ("Select all that apply", {"fields": ["scoring"], "classes": ["collapse"]}),
        ("Numeric answer", {"fields": ["numeric_answer", "abs_tolerance", "rel_tolerance"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Question]:
        return super().get_queryset(request).prefetch_related("tags")

    @admin.display(description="Tags")
    def tag_list(self, obj: Question) -> str:
        return ", ".join(tag.name for tag in obj.tags.all())

    @admin.display(description="Prompt preview")
    def prompt_preview(self, obj: Question) -> SafeString:
        return _preview(obj.prompt)

    @admin.display(description="Explanation preview")
    def explanation_preview(self, obj: Question) -> SafeString:
        return _preview(obj.explanation)

    @admin.action(description="Duplicate selected questions", permissions=["add"])
    def duplicate_questions(self, request: HttpRequest, queryset: QuerySet[Question]) -> None:
        copies = [question_duplicate(question=question) for question in queryset]
        self.message_user(
            request,
            f"Created {len(copies)} cop{'y' if len(copies) == 1 else 'ies'}: " + ", ".join(c.slug for c in copies),
            messages.SUCCESS,
        )


class QuizQuestionInline(admin.TabularInline):  # type: ignore[type-arg]
    model = QuizQuestion
    extra = 0
    autocomplete_fields = ["question"]
    fields = ["position", "question", "points"]


@admin.register(Quiz)
class QuizAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ["title", "slug", "is_published", "opens_at", "closes_at", "reveal", "attempts_link"]
    list_filter = ["is_published", "reveal"]
    search_fields = ["title", "slug"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [QuizQuestionInline]
    actions = ["export_gradebook"]
    readonly_fields = ["description_preview"]

    @admin.display(description="Description preview")
    def description_preview(self, obj: Quiz) -> SafeString:
        return _preview(obj.description)

    def save_model(self, request: HttpRequest, obj: Quiz, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if warning := quiz_reveal_warning(quiz=obj):
            messages.warning(request, warning)

    @admin.display(description="Attempts")
    def attempts_link(self, obj: Quiz) -> SafeString:
        url = reverse("admin:grader_attempt_changelist") + f"?quiz__id__exact={obj.id}"
        return format_html('<a href="{}">attempts</a>', url)

    @admin.action(description="Export gradebook (CSV)", permissions=["view"])
    def export_gradebook(self, request: HttpRequest, queryset: QuerySet[Quiz]) -> StreamingHttpResponse:
        from grader.gradebook import gradebook_csv_response

        return gradebook_csv_response(quizzes=list(queryset))


def quiz_reveal_warning(*, quiz: Quiz) -> str:
    """What an instructor combining an after-submit reveal with retries should know."""
    if not quiz_reveal_waits_for_last_attempt(quiz=quiz):
        return ""
    attempts = f"{quiz.max_attempts} attempts" if quiz.max_attempts else "unlimited attempts"
    warning = (
        f"Answers are revealed after each submit, but this quiz allows {attempts}: so that a later attempt "
        "cannot copy them, a student sees which answers were correct only once they have used their last "
        "attempt or the due date has passed."
    )
    if quiz.max_attempts is None and quiz.closes_at is None:
        warning += " With unlimited attempts and no due date that is never: set Max attempts or a due date."
    return warning


admin.site.register(Tag, search_fields=["name"])

from questions import exercise_admin  # noqa: E402,F401 - registers the exercise admin
