from django.urls import path

from questions.apis import QuizDetailApi, QuizListApi

urlpatterns = [
    path("quizzes/", QuizListApi.as_view(), name="quiz-list"),
    path("quizzes/<slug:slug>/", QuizDetailApi.as_view(), name="quiz-detail"),
]
