from django.urls import path

from grader.apis import AttemptDetailApi, AttemptSubmitApi, QuizAttemptsApi
from grader.check_run_apis import CheckRunDetailApi, ExerciseChecksApi
from grader.notebook_apis import ExerciseNotebookApi, SubmissionNotebookApi
from grader.submission_apis import ExerciseSubmissionsApi, SubmissionDetailApi

urlpatterns = [
    path("quizzes/<slug:slug>/attempts/", QuizAttemptsApi.as_view(), name="quiz-attempts"),
    path("attempts/<int:attempt_id>/", AttemptDetailApi.as_view(), name="attempt-detail"),
    path("attempts/<int:attempt_id>/submit/", AttemptSubmitApi.as_view(), name="attempt-submit"),
    path("exercises/<slug:slug>/submissions/", ExerciseSubmissionsApi.as_view(), name="exercise-submissions"),
    path("exercises/<slug:slug>/notebook/", ExerciseNotebookApi.as_view(), name="exercise-notebook"),
    path("exercises/<slug:slug>/checks/", ExerciseChecksApi.as_view(), name="exercise-checks"),
    path("check-runs/<int:check_run_id>/", CheckRunDetailApi.as_view(), name="check-run-detail"),
    path("submissions/<int:submission_id>/", SubmissionDetailApi.as_view(), name="submission-detail"),
    path("submissions/<int:submission_id>/notebook/", SubmissionNotebookApi.as_view(), name="submission-notebook"),
]
