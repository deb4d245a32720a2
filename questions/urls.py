from django.urls import path

from questions.apis import ExerciseDetailApi, ExerciseListApi, QuizDetailApi, QuizListApi

urlpatterns = [
    path("quizzes/", QuizListApi.as_view(), name="quiz-list"),
    path("quizzes/<slug:slug>/", QuizDetailApi.as_view(), name="quiz-detail"),
    path("exercises/", ExerciseListApi.as_view(), name="exercise-list"),
    path("exercises/<slug:slug>/", ExerciseDetailApi.as_view(), name="exercise-detail"),
]
