"""Server-rendered pages for students: inside the LMS iframe after an LTI launch, or on
their own after the login page.

The pages call the same selectors and services as the REST API and show attempts and
submissions through the API's own data functions, so that the two never disagree about
a score or about what the reveal policy lets a student see. A refused request is the
page again with the service's message and a 4xx status, never a 500.

Every view is `frameable` outermost, so that its redirects and refusals can be shown in
the LMS's frame too; a page that raised Http404 would get Django's 404 page, which
keeps `X-Frame-Options: DENY` and would leave a blank frame, hence `_not_found`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from config.errors import ServiceError
from grader.apis import attempt_detail_data
from grader.check_run_apis import check_run_data
from grader.check_runs import check_run_create, check_run_get_own
from grader.grading import submission_create
from grader.models import Attempt, CheckRun, CheckRunStatus, Submission, SubmissionStatus
from grader.notebook_apis import exercise_starter_attachment, notebook_attachment, submission_notebook_filename
from grader.notebooks import NotebookProblem, notebook_upload
from grader.selectors import attempt_get_own, attempt_get_visible, attempt_presented_questions, submission_get_visible
from grader.services import attempt_start, attempt_submit
from grader.submission_apis import submission_data
from lti.framing import frameable
from pages.forms import AnswerForm, answer_form_read
from pages.presenters import attempt_question_views, quiz_reveal_text
from pages.selectors import (
    attempt_accepts_answers,
    attempt_list_own,
    attempt_list_own_for_quiz,
    attempt_open_for_quiz,
    submission_latest_code,
    submission_list_own,
    submission_list_own_for_exercise,
)
from pages.throttles import check_wait_seconds, login_wait_seconds, submission_wait_seconds
from questions.apis import exercise_detail_data
from questions.markdown import render_markdown
from questions.models import Exercise, Quiz
from questions.selectors import exercise_get_visible, exercise_list_visible, quiz_get_visible, quiz_list_visible

LOGIN_URL = "pages-login"
HISTORY_LIMIT = 100
PENDING = (SubmissionStatus.QUEUED, SubmissionStatus.RUNNING)
CHECK_PENDING = (CheckRunStatus.QUEUED, CheckRunStatus.RUNNING)


def _not_found(request: HttpRequest, *, message: str) -> HttpResponse:
    return render(request, "pages/not_found.html", {"message": message}, status=404)


def _throttled(response: HttpResponse, *, wait: int) -> HttpResponse:
    response["Retry-After"] = str(wait)
    return response


# --- Signing in and out -----------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "pages/login.html"
    redirect_authenticated_user = True
    next_page = "pages-home"  # when the form carries no (safe) `next`

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        wait = login_wait_seconds(request=request)
        if wait is None:
            return super().post(request, *args, **kwargs)
        context = self.get_context_data(
            form=self.get_form(), error=f"Too many sign-in attempts. Please wait {wait} seconds and try again."
        )
        return _throttled(self.render_to_response(context, status=429), wait=wait)


login = frameable(LoginView.as_view())
logout = frameable(auth_views.LogoutView.as_view(next_page=LOGIN_URL))


# --- Lists ----------------------------------------------------------------------------


@frameable
@login_required(login_url=LOGIN_URL)
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "quizzes": quiz_list_visible(user=request.user),
        "exercises": exercise_list_visible(user=request.user),
    }
    return render(request, "pages/home.html", context)


@frameable
@login_required(login_url=LOGIN_URL)
@require_GET
def history(request: HttpRequest) -> HttpResponse:
    attempts = list(attempt_list_own(user=request.user)[: HISTORY_LIMIT + 1])
    submissions = list(submission_list_own(user=request.user)[: HISTORY_LIMIT + 1])
    context = {
        "attempts": attempts[:HISTORY_LIMIT],
        "submissions": [
            submission_data(submission=s) | {"title": s.exercise.title} for s in submissions[:HISTORY_LIMIT]
        ],
        "more_attempts": len(attempts) > HISTORY_LIMIT,
        "more_submissions": len(submissions) > HISTORY_LIMIT,
        "limit": HISTORY_LIMIT,
    }
    return render(request, "pages/history.html", context)


# --- Quizzes --------------------------------------------------------------------------


def _quiz_page(request: HttpRequest, *, quiz: Quiz, error: str = "", status: int = 200) -> HttpResponse:
    context = {
        "quiz": quiz,
        "description_html": render_markdown(text=quiz.description),
        "attempts": attempt_list_own_for_quiz(quiz=quiz, user=request.user),
        "open_attempt": attempt_open_for_quiz(quiz=quiz, user=request.user, now=timezone.now()),
        "reveal_text": quiz_reveal_text(quiz=quiz),
        "error": error,
    }
    return render(request, "pages/quiz.html", context, status=status)


@frameable
@login_required(login_url=LOGIN_URL)
@require_http_methods(["GET", "POST"])
def quiz_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """The quiz and the student's attempts; POST starts an attempt."""
    try:
        quiz = quiz_get_visible(slug=slug, user=request.user)
    except Quiz.DoesNotExist:
        return _not_found(request, message=f"There is no quiz “{slug}”.")
    if request.method == "POST":
        try:
            attempt = attempt_start(quiz=quiz, user=request.user)
        except ServiceError as exc:
            return _quiz_page(request, quiz=quiz, error=exc.message, status=int(exc.kind))
        return redirect("pages-attempt", attempt_id=attempt.pk)
    return _quiz_page(request, quiz=quiz)


def _attempt_page(
    request: HttpRequest, *, attempt: Attempt, form: AnswerForm | None = None, error: str = "", status: int = 200
) -> HttpResponse:
    data = attempt_detail_data(attempt=attempt, viewer=request.user)
    is_owner = attempt.user_id == request.user.pk
    context = {
        "attempt": attempt,
        "quiz": attempt.quiz,
        "revealed": data["revealed"],
        "reveal_text": quiz_reveal_text(quiz=attempt.quiz),
        "questions": attempt_question_views(data=data, form=form),
        "can_answer": is_owner and attempt_accepts_answers(attempt=attempt, now=timezone.now()),
        "is_owner": is_owner,
        "form": form,
        "error": error,
    }
    return render(request, "pages/attempt.html", context, status=status)


def _attempt_submit(request: HttpRequest, *, attempt_id: int) -> HttpResponse:
    try:
        attempt = attempt_get_own(attempt_id=attempt_id, user=request.user)
    except Attempt.DoesNotExist:
        return _not_found(request, message=f"There is no attempt {attempt_id}.")
    form = answer_form_read(presented=attempt_presented_questions(attempt=attempt), data=request.POST)
    if not form.is_valid:
        return _attempt_page(request, attempt=attempt, form=form, status=400)
    try:
        attempt_submit(attempt=attempt, answers=form.answers)
    except ServiceError as exc:
        form.add_service_errors(exc.errors)
        attempt.refresh_from_db()  # another request may have ended it meanwhile
        return _attempt_page(request, attempt=attempt, form=form, error=exc.message, status=int(exc.kind))
    return redirect("pages-attempt", attempt_id=attempt.pk)


@frameable
@login_required(login_url=LOGIN_URL)
@require_http_methods(["GET", "POST"])
def attempt_detail(request: HttpRequest, attempt_id: int) -> HttpResponse:
    """The attempt's form while it is open, its score and feedback once it has ended;
    POST submits it. Students see only their own attempts, instructors everyone's."""
    if request.method == "POST":
        return _attempt_submit(request, attempt_id=attempt_id)
    try:
        attempt = attempt_get_visible(attempt_id=attempt_id, user=request.user)
    except Attempt.DoesNotExist:
        return _not_found(request, message=f"There is no attempt {attempt_id}.")
    return _attempt_page(request, attempt=attempt)


# --- Code exercises -------------------------------------------------------------------


def _exercise_page(
    request: HttpRequest, *, exercise: Exercise, code: str, error: str = "", status: int = 200
) -> HttpResponse:
    context = {
        "exercise": exercise_detail_data(exercise=exercise),
        "code": code,
        "submissions": [
            submission_data(submission=s)
            for s in submission_list_own_for_exercise(exercise=exercise, user=request.user)
        ],
        "error": error,
    }
    return render(request, "pages/exercise.html", context, status=status)


def _exercise_submit(request: HttpRequest, *, exercise: Exercise, checking: bool = False) -> HttpResponseBase:
    """The code form's code, or the upload form's notebook (the two are separate forms,
    so that a file chosen is never sent with the editor's code), submitted for grading
    or, `checking`, to "Check my work"."""
    # Browsers send a textarea's line breaks as CRLF; the code is stored (and its size
    # counted) as the student wrote it, with plain newlines.
    code = request.POST.get("code", "").replace("\r\n", "\n")
    uploading = request.POST.get("source") == "notebook"
    if uploading:  # the editor, should the page come back, holds what it held
        latest = submission_latest_code(exercise=exercise, user=request.user)
        code = exercise.starter_code if latest is None else latest
    wait = (check_wait_seconds if checking else submission_wait_seconds)(request=request)
    if wait is not None:
        done = "checked" if checking else "submitted"
        message = f"You have {done} a lot in a short time. Please wait {wait} seconds before trying again."
        return _throttled(_exercise_page(request, exercise=exercise, code=code, error=message, status=429), wait=wait)
    try:
        notebook = _uploaded_notebook(request) if uploading else None
        source: dict[str, Any] = {"notebook": notebook} if uploading else {"code": code}
        if checking:
            run = check_run_create(user=request.user, exercise=exercise, **source)
            return redirect("pages-check-run", check_run_id=run.pk)
        submission = submission_create(user=request.user, exercise=exercise, **source)
    except NotebookProblem as exc:
        return _exercise_page(request, exercise=exercise, code=code, error=str(exc), status=400)
    except ServiceError as exc:
        return _exercise_page(request, exercise=exercise, code=code, error=exc.message, status=int(exc.kind))
    return redirect("pages-submission", submission_id=submission.pk)


def _uploaded_notebook(request: HttpRequest) -> dict[str, Any]:
    file = request.FILES.get("file")
    if file is None:
        raise NotebookProblem("Choose a notebook (.ipynb file) to upload.")
    limit = settings.SUBMISSION_MAX_NOTEBOOK_BYTES
    return notebook_upload(filename=file.name or "", size=file.size or 0, read=file.read, max_bytes=limit)


@frameable
@login_required(login_url=LOGIN_URL)
@require_http_methods(["GET", "POST"])
def exercise_detail(request: HttpRequest, slug: str) -> HttpResponseBase:
    """The exercise with an editor holding the student's last submission (or the starter
    code), and their submissions; POST submits code for grading."""
    try:
        exercise = exercise_get_visible(slug=slug, user=request.user)
    except Exercise.DoesNotExist:
        return _not_found(request, message=f"There is no exercise “{slug}”.")
    if request.method == "POST":
        return _exercise_submit(request, exercise=exercise)
    code = submission_latest_code(exercise=exercise, user=request.user)
    return _exercise_page(request, exercise=exercise, code=exercise.starter_code if code is None else code)


@frameable
@login_required(login_url=LOGIN_URL)
@require_POST
def exercise_check(request: HttpRequest, slug: str) -> HttpResponseBase:
    """ "Check my work" without JavaScript: the visible checks on the form's code or
    notebook, shown on a page of their own (with JavaScript, check.js shows them in place)."""
    try:
        exercise = exercise_get_visible(slug=slug, user=request.user)
    except Exercise.DoesNotExist:
        return _not_found(request, message=f"There is no exercise “{slug}”.")
    return _exercise_submit(request, exercise=exercise, checking=True)


@frameable
@login_required(login_url=LOGIN_URL)
@require_GET
def check_run_detail(request: HttpRequest, check_run_id: int) -> HttpResponse:
    """A check run's verdict on the visible checks, for the student who asked: not a grade."""
    try:
        run = check_run_get_own(check_run_id=check_run_id, user=request.user)
    except CheckRun.DoesNotExist:
        return _not_found(request, message=f"There is no check run {check_run_id}.")
    data = check_run_data(run=run)
    context = {"run": data, "exercise_title": run.exercise.title, "pending": data["status"] in CHECK_PENDING}
    return render(request, "pages/check_run.html", context)


@frameable
@login_required(login_url=LOGIN_URL)
@require_GET
def exercise_notebook(request: HttpRequest, slug: str) -> HttpResponse:
    """The exercise's starter notebook, to work on in Jupyter and upload."""
    try:
        exercise = exercise_get_visible(slug=slug, user=request.user)
    except Exercise.DoesNotExist:
        return _not_found(request, message=f"There is no exercise “{slug}”.")
    return exercise_starter_attachment(exercise=exercise, request=request)


@frameable
@login_required(login_url=LOGIN_URL)
@require_GET
def submission_notebook(request: HttpRequest, submission_id: int) -> HttpResponse:
    """A notebook submission's notebook, as it was uploaded."""
    try:
        submission: Submission = submission_get_visible(submission_id=submission_id, user=request.user)
    except Submission.DoesNotExist:
        return _not_found(request, message=f"There is no submission {submission_id}.")
    if submission.notebook is None:
        return _not_found(request, message=f"Submission {submission_id} was sent as code, not as a notebook.")
    filename = submission_notebook_filename(submission=submission)
    return notebook_attachment(notebook=submission.notebook, filename=filename)


@frameable
@login_required(login_url=LOGIN_URL)
@require_GET
def submission_detail(request: HttpRequest, submission_id: int) -> HttpResponse:
    """A submission's status and, once graded, its feedback, as the API gives them."""
    try:
        submission: Submission = submission_get_visible(submission_id=submission_id, user=request.user)
    except Submission.DoesNotExist:
        return _not_found(request, message=f"There is no submission {submission_id}.")
    data = submission_data(submission=submission)
    context = {
        "submission": data,
        "exercise_title": submission.exercise.title,
        "pending": data["status"] in PENDING,
        "poll_url": reverse("submission-detail", kwargs={"submission_id": submission.pk}),
    }
    return render(request, "pages/submission.html", context)


@frameable
def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Django's CSRF refusal as a page of ours: framed in the LMS (Django's own carries
    X-Frame-Options: DENY and shows a blank frame there) and saying what to do."""
    return render(request, "pages/csrf_failure.html", status=403)
