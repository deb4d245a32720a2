from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model

from lti.models import Platform
from questions.models import Choice, Question, QuestionType, Quiz, QuizQuestion, Tag


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("pass-word-123")


class PlatformFactory(factory.django.DjangoModelFactory):
    """An LMS registered with the tool (no deployment), its endpoints on its own host."""

    class Meta:
        model = Platform

    class Params:
        host = factory.Sequence(lambda n: f"lms{n}.example.edu")

    name = factory.LazyAttribute(lambda p: p.host)
    issuer = factory.LazyAttribute(lambda p: f"https://{p.host}")
    client_id = "tool"
    auth_login_url = factory.LazyAttribute(lambda p: f"https://{p.host}/auth")
    auth_token_url = factory.LazyAttribute(lambda p: f"https://{p.host}/token")
    keyset_url = factory.LazyAttribute(lambda p: f"https://{p.host}/jwks")


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag-{n}")


DEFAULT_CHOICES: dict[str, list[tuple[str, bool]]] = {
    QuestionType.SINGLE: [("Right", True), ("Wrong", False), ("Also wrong", False)],
    QuestionType.MULTIPLE: [("A", True), ("B", True), ("C", False), ("D", False)],
    QuestionType.NUMERIC: [],
}


class QuestionFactory(factory.django.DjangoModelFactory):
    """A single-choice question with three choices, the first one correct."""

    class Meta:
        model = Question
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"question-{n}")
    title = factory.Sequence(lambda n: f"Question {n}")
    prompt = "Which one?\n\n**Pick one.**"
    type = QuestionType.SINGLE
    explanation = "Because the first one is right."
    points = Decimal(1)

    @factory.post_generation
    def choices(self, create: bool, extracted: list[tuple[str, bool]] | None, **kwargs: object) -> None:
        if not create:
            return
        for position, (text, correct) in enumerate(extracted or DEFAULT_CHOICES[self.type]):
            Choice.objects.create(
                question=self, position=position, text=text, is_correct=correct, feedback=f"About {text}"
            )


class MultipleQuestionFactory(QuestionFactory):
    """Select all that apply: A and B are correct, C and D wrong."""

    type = QuestionType.MULTIPLE


class NumericQuestionFactory(QuestionFactory):
    type = QuestionType.NUMERIC
    numeric_answer = 0.952
    abs_tolerance = 0.0005
    points = Decimal(2)


class QuizFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Quiz
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"quiz-{n}")
    title = factory.Sequence(lambda n: f"Quiz {n}")
    description = "A quiz."
    is_published = True

    @factory.post_generation
    def questions(self, create: bool, extracted: list[Question] | None, **kwargs: object) -> None:
        if not create or not extracted:
            return
        for position, question in enumerate(extracted):
            QuizQuestion.objects.create(quiz=self, question=question, position=position)


def notebook_cell(source: str, *, cell_type: str = "code", **fields: object) -> dict[str, object]:
    """A cell as Jupyter saves it (the source as a list of lines)."""
    cell: dict[str, object] = {"cell_type": cell_type, "metadata": {}, "source": source.splitlines(keepends=True)}
    if cell_type == "code":
        cell |= {"execution_count": None, "outputs": []}
    return cell | fields


def make_notebook(*cells: dict[str, object] | str, minor: int = 4) -> dict[str, object]:
    """An nbformat 4 notebook's JSON object; a plain string is a code cell. nbformat 4.4
    by default, which has no cell ids (4.5 notebooks get them numbered)."""
    built = [notebook_cell(cell) if isinstance(cell, str) else cell for cell in cells]
    if minor >= 5:
        built = [{"id": f"cell-{n}", **cell} for n, cell in enumerate(built)]
    return {
        "cells": built,
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}},
        "nbformat": 4,
        "nbformat_minor": minor,
    }
