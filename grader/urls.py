from django.urls import path

from grader.apis import AttemptDetailApi, AttemptSubmitApi, QuizAttemptsApi

urlpatterns = [
    path("quizzes/<slug:slug>/attempts/", QuizAttemptsApi.as_view(), name="quiz-attempts"),
    path("attempts/<int:attempt_id>/", AttemptDetailApi.as_view(), name="attempt-detail"),
    path("attempts/<int:attempt_id>/submit/", AttemptSubmitApi.as_view(), name="attempt-submit"),
]
