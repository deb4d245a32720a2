from django.urls import path

from grader.apis import AttemptDetailApi, AttemptSubmitApi, QuizAttemptsApi
from grader.submission_apis import ExerciseSubmissionsApi, SubmissionDetailApi

urlpatterns = [
    path("quizzes/<slug:slug>/attempts/", QuizAttemptsApi.as_view(), name="quiz-attempts"),
    path("attempts/<int:attempt_id>/", AttemptDetailApi.as_view(), name="attempt-detail"),
    path("attempts/<int:attempt_id>/submit/", AttemptSubmitApi.as_view(), name="attempt-submit"),
    path("exercises/<slug:slug>/submissions/", ExerciseSubmissionsApi.as_view(), name="exercise-submissions"),
    path("submissions/<int:submission_id>/", SubmissionDetailApi.as_view(), name="submission-detail"),
]
